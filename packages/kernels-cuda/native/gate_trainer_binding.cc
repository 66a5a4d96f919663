// Node-API face of GateTrainerModel: `createGateTrainer(shape, options)` resolves to a handle
// whose GPU-touching methods are AsyncWorkers returning Promises; after dispose() every method
// rejects naming the disposed trainer. Nothing here aborts the process.
#include "gate_trainer_binding.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "addon_data.h"
#include "binding_helpers.h"
#include "cuda_worker.h"
#include "host/gate_trainer.h"

namespace duo {

using namespace binding;

namespace {

using TrainerPtr = std::shared_ptr<GateTrainerModel>;

class TrainerWorker : public CudaWorker {
 public:
  TrainerWorker(Napi::Env env, TrainerPtr trainer, std::function<Status(GateTrainerModel&)> work)
      : CudaWorker(env), trainer_(std::move(trainer)), work_(std::move(work)) {}

 protected:
  void Execute() override { CheckStatus(work_(*trainer_)); }
  Napi::Value Result() override { return Env().Undefined(); }

 private:
  TrainerPtr trainer_;
  std::function<Status(GateTrainerModel&)> work_;
};

/** One step's host inputs, owned by the worker; resolves to { loss, gradient, timings }. */
class StepWorker : public CudaWorker {
 public:
  StepWorker(Napi::Env env, TrainerPtr trainer, std::vector<int32_t> ids, std::vector<float> cos, std::vector<float> sin,
             std::vector<int32_t> labels, std::vector<float> gates)
      : CudaWorker(env),
        trainer_(std::move(trainer)),
        ids_(std::move(ids)),
        cos_(std::move(cos)),
        sin_(std::move(sin)),
        labels_(std::move(labels)),
        gates_(std::move(gates)),
        gradient_(gates_.size()) {}

 protected:
  void Execute() override {
    CheckStatus(trainer_->Step(ids_.data(), static_cast<int>(ids_.size()), cos_.data(), sin_.data(), labels_.data(),
                               static_cast<int>(labels_.size()), gates_.data(), &loss_, gradient_.data(), &timings_));
  }
  Napi::Value Result() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    Napi::Float64Array gradient = Napi::Float64Array::New(env, gradient_.size());
    for (std::size_t i = 0; i < gradient_.size(); ++i) gradient[i] = gradient_[i];
    out.Set("loss", Napi::Number::New(env, loss_));
    out.Set("gradient", gradient);
    out.Set("teacherMs", Napi::Number::New(env, timings_.teacher_ms));
    out.Set("studentMs", Napi::Number::New(env, timings_.student_ms));
    out.Set("backwardMs", Napi::Number::New(env, timings_.backward_ms));
    return out;
  }

 private:
  TrainerPtr trainer_;
  std::vector<int32_t> ids_;
  std::vector<float> cos_, sin_;
  std::vector<int32_t> labels_;
  std::vector<float> gates_;
  std::vector<double> gradient_;
  double loss_ = 0;
  GateTrainerTimings timings_;
};

class DisposeWorker : public CudaWorker {
 public:
  DisposeWorker(Napi::Env env, TrainerPtr trainer) : CudaWorker(env), trainer_(std::move(trainer)) {}

 protected:
  void Execute() override { trainer_.reset(); }
  Napi::Value Result() override { return Env().Undefined(); }

 private:
  TrainerPtr trainer_;
};

class CreateWorker : public CudaWorker {
 public:
  CreateWorker(Napi::Env env, ModelShape shape, GateTrainerOptions options, Napi::FunctionReference* ctor)
      : CudaWorker(env), shape_(std::move(shape)), options_(options), ctor_(ctor) {}

 protected:
  void Execute() override {
    std::unique_ptr<GateTrainerModel> trainer;
    if (CheckStatus(GateTrainerModel::Create(shape_, options_, &trainer))) trainer_ = std::move(trainer);
  }
  Napi::Value Result() override {
    Napi::Object handle = ctor_->New({});
    NativeGateTrainer::Unwrap(handle)->Attach(std::move(trainer_));
    return handle;
  }

 private:
  ModelShape shape_;
  GateTrainerOptions options_;
  Napi::FunctionReference* ctor_;
  TrainerPtr trainer_;
};

template <typename T>
std::vector<T> Copy(const Napi::TypedArray& array) {
  const T* data = TypedData<T>(array);
  return std::vector<T>(data, data + array.ElementLength());
}

}  // namespace

NativeGateTrainer::NativeGateTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGateTrainer>(info) {}

Napi::Function NativeGateTrainer::Define(Napi::Env env) {
  return DefineClass(env, "NativeGateTrainer",
                     {
                         InstanceMethod("uploadWeight", &NativeGateTrainer::UploadWeight),
                         InstanceMethod("fillRandomWeights", &NativeGateTrainer::FillRandomWeights),
                         InstanceMethod("step", &NativeGateTrainer::Step),
                         InstanceMethod("memory", &NativeGateTrainer::Memory),
                         InstanceMethod("dispose", &NativeGateTrainer::Dispose),
                     });
}

void NativeGateTrainer::Attach(std::shared_ptr<GateTrainerModel> trainer) { trainer_ = std::move(trainer); }

std::shared_ptr<GateTrainerModel> NativeGateTrainer::Live(const Napi::Env& env, const char* method) const {
  if (trainer_ == nullptr) throw Napi::Error::New(env, std::string(method) + ": the CUDA gate trainer was disposed");
  return trainer_;
}

Napi::Value NativeGateTrainer::UploadWeight(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    TrainerPtr trainer = Live(info.Env(), "uploadWeight");
    const int kind = IntArg(info[0], "kind", 0, 8);
    const int layer = IntArg(info[1], "layer", -1, kMaxInt);
    Napi::TypedArray data = TypedArg(info[2], napi_uint16_array, "data", "Uint16Array (bf16 bits)");
    const uint16_t* values = TypedData<uint16_t>(data);
    const std::size_t count = data.ElementLength();
    auto reference = std::make_shared<Napi::Reference<Napi::TypedArray>>(Napi::Persistent(data));
    return Queue(new TrainerWorker(info.Env(), trainer, [kind, layer, values, count, reference](GateTrainerModel& m) {
      return m.UploadWeight(static_cast<WeightKind>(kind), layer, values, count);
    }));
  });
}

Napi::Value NativeGateTrainer::FillRandomWeights(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    TrainerPtr trainer = Live(info.Env(), "fillRandomWeights");
    const uint64_t seed = static_cast<uint64_t>(IntArg(info[0], "seed", 0, kMaxInt));
    return Queue(new TrainerWorker(info.Env(), trainer, [seed](GateTrainerModel& m) { return m.FillRandomWeights(seed); }));
  });
}

Napi::Value NativeGateTrainer::Step(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    TrainerPtr trainer = Live(env, "step");
    Napi::TypedArray ids = TypedArg(info[0], napi_int32_array, "ids", "Int32Array");
    Napi::TypedArray cos = TypedArg(info[1], napi_float32_array, "cos", "Float32Array");
    Napi::TypedArray sin = TypedArg(info[2], napi_float32_array, "sin", "Float32Array");
    Napi::TypedArray labels = TypedArg(info[3], napi_int32_array, "labels", "Int32Array");
    Napi::TypedArray gates = TypedArg(info[4], napi_float32_array, "gates", "Float32Array");
    const ModelShape& s = trainer->shape();
    const std::size_t tokens = ids.ElementLength();
    const std::size_t half = s.head_dim / 2;
    if (tokens == 0 || tokens > static_cast<std::size_t>(kMaxInt)) throw Napi::RangeError::New(env, "step: bad number of ids");
    if (cos.ElementLength() != tokens * half || sin.ElementLength() != tokens * half) {
      throw Napi::RangeError::New(env, "step: cos and sin must hold tokens * head_dim/2 = " +
                                           std::to_string(tokens * half) + " values");
    }
    if (gates.ElementLength() != static_cast<std::size_t>(s.num_layers) * s.num_kv_heads) {
      throw Napi::RangeError::New(env, "step: gates must hold numLayers * numKvHeads = " +
                                           std::to_string(s.num_layers * s.num_kv_heads) + " values");
    }
    return Queue(new StepWorker(env, trainer, Copy<int32_t>(ids), Copy<float>(cos), Copy<float>(sin), Copy<int32_t>(labels),
                                Copy<float>(gates)));
  });
}

Napi::Value NativeGateTrainer::Memory(const Napi::CallbackInfo& info) {
  TrainerPtr trainer = Live(info.Env(), "memory");
  const GateTrainerMemory memory = trainer->Memory();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("weightBytes", static_cast<double>(memory.weight_bytes));
  out.Set("checkpointBytes", static_cast<double>(memory.checkpoint_bytes));
  out.Set("scratchBytes", static_cast<double>(memory.scratch_bytes));
  out.Set("storesActivations", trainer->stores_activations());
  return out;
}

Napi::Value NativeGateTrainer::Dispose(const Napi::CallbackInfo& info) {
  TrainerPtr trainer = std::move(trainer_);
  if (trainer == nullptr) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
    deferred.Resolve(info.Env().Undefined());
    return deferred.Promise();
  }
  return Queue(new DisposeWorker(info.Env(), std::move(trainer)));
}

namespace {

Napi::Value CreateGateTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsPromise(info, [&]() -> Napi::Value {
    if (!info[0].IsObject() || !info[1].IsObject()) {
      throw Napi::TypeError::New(env, "createGateTrainer(shape, options): two objects expected");
    }
    const Napi::Object s = info[0].As<Napi::Object>();
    const Napi::Object o = info[1].As<Napi::Object>();
    ModelShape shape;
    shape.num_layers = IntField(s, "numLayers", 1, kMaxInt);
    shape.hidden = IntField(s, "hiddenSize", 1, kMaxInt);
    shape.num_q_heads = IntField(s, "numHeads", 1, kMaxInt);
    shape.num_kv_heads = IntField(s, "numKvHeads", 1, kMaxInt);
    shape.head_dim = IntField(s, "headDim", 1, kMaxInt);
    shape.intermediate = IntField(s, "intermediateSize", 1, kMaxInt);
    shape.vocab = IntField(s, "vocabSize", 1, kMaxInt);
    shape.rms_eps = static_cast<float>(NumberField(s, "rmsNormEps"));
    shape.tied_embeddings = s.Get("tieWordEmbeddings").ToBoolean().Value();
    GateTrainerOptions options;
    options.device = IntField(o, "device", 0, kMaxInt);
    options.max_tokens = IntField(o, "maxTokens", 1, kMaxInt);
    options.mask.kind = IntField(o, "maskKind", 0, 1);
    options.mask.sink = IntField(o, "sinkSize", 0, kMaxInt);
    options.mask.recent = IntField(o, "recentSize", 1, kMaxInt);
    options.mask.block = IntField(o, "blockSize", 1, kMaxInt);
    options.activations = static_cast<ActivationMemory>(IntField(o, "activations", 0, 2));
    auto* ctor = &env.GetInstanceData<AddonData>()->gate_trainer;
    return Queue(new CreateWorker(env, std::move(shape), options, ctor));
  });
}

}  // namespace

void RegisterGateTrainerBinding(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<AddonData>()->gate_trainer = Napi::Persistent(NativeGateTrainer::Define(env));
  exports.Set("createGateTrainer", Napi::Function::New(env, CreateGateTrainer, "createGateTrainer"));
}

}  // namespace duo
