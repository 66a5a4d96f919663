// Node-API face of CudaModel: `createModel(...)` resolves to a NativeModel handle whose every
// GPU-touching method is an AsyncWorker returning a Promise. After dispose() every method rejects
// (or, for the synchronous getters, throws) naming the disposed model; nothing aborts the process.
#include "model_binding.h"

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda_worker.h"
#include "host/cuda_model.h"

namespace duo {
namespace {

using ModelPtr = std::shared_ptr<CudaModel>;

// ---- argument helpers (throw JS TypeError/RangeError naming the argument) ------------------

int IntArg(const Napi::Value& value, const char* name, double min, double max) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= min && v <= max) || std::floor(v) != v) {
    throw Napi::RangeError::New(env, std::string(name) + " must be an integer in [" + std::to_string(static_cast<int64_t>(min)) +
                                         ", " + std::to_string(static_cast<int64_t>(max)) + "], got " + std::to_string(v));
  }
  return static_cast<int>(v);
}

int IntField(const Napi::Object& object, const char* name, double min, double max) {
  return IntArg(object.Get(name), name, min, max);
}

double NumberField(const Napi::Object& object, const char* name) {
  const Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw Napi::TypeError::New(object.Env(), std::string(name) + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

template <typename T>
const T* TypedData(const Napi::TypedArray& array) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
}

Napi::TypedArray TypedArg(const Napi::Value& value, napi_typedarray_type type, const char* name, const char* expected) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a " + expected);
  }
  return value.As<Napi::TypedArray>();
}

constexpr double kMaxInt = 2147483647.0;

// ---- workers --------------------------------------------------------------------------------

/** Runs `work` on a libuv thread; resolves with `result` (undefined by default). */
class ModelWorker : public CudaWorker {
 public:
  ModelWorker(Napi::Env env, ModelPtr model, std::function<Status(CudaModel&)> work)
      : CudaWorker(env), model_(std::move(model)), work_(std::move(work)) {}

 protected:
  void Execute() override { CheckStatus(work_(*model_)); }
  Napi::Value Result() override { return Env().Undefined(); }

  ModelPtr model_;

 private:
  std::function<Status(CudaModel&)> work_;
};

class ForwardWorker : public CudaWorker {
 public:
  ForwardWorker(Napi::Env env, ModelPtr model, int sequence, int start, std::vector<int32_t> ids, std::vector<float> cos,
                std::vector<float> sin, bool all_logits)
      : CudaWorker(env),
        model_(std::move(model)),
        sequence_(sequence),
        start_(start),
        ids_(std::move(ids)),
        cos_(std::move(cos)),
        sin_(std::move(sin)),
        all_logits_(all_logits) {
    const std::size_t rows = all_logits_ ? ids_.size() : 1;
    Napi::Float32Array logits = Napi::Float32Array::New(env, rows * model_->shape().vocab);
    logits_data_ = logits.Data();
    logits_ref_ = Napi::Persistent(logits);
  }

 protected:
  void Execute() override {
    CheckStatus(model_->Forward(sequence_, start_, ids_.data(), static_cast<int>(ids_.size()), cos_.data(), sin_.data(),
                                all_logits_, logits_data_));
  }
  Napi::Value Result() override { return logits_ref_.Value(); }

 private:
  ModelPtr model_;
  int sequence_;
  int start_;
  std::vector<int32_t> ids_;
  std::vector<float> cos_;
  std::vector<float> sin_;
  bool all_logits_;
  float* logits_data_ = nullptr;
  Napi::Reference<Napi::Float32Array> logits_ref_;
};

/** Takes the handle's reference and drops it off the JS thread, after any call in flight. */
class DisposeWorker : public CudaWorker {
 public:
  DisposeWorker(Napi::Env env, ModelPtr model) : CudaWorker(env), model_(std::move(model)) {}

 protected:
  void Execute() override { model_.reset(); }
  Napi::Value Result() override { return Env().Undefined(); }

 private:
  ModelPtr model_;
};

class CreateWorker : public CudaWorker {
 public:
  CreateWorker(Napi::Env env, ModelShape shape, PolicyShape policy, ModelOptions options, Napi::FunctionReference* ctor)
      : CudaWorker(env), shape_(std::move(shape)), policy_(std::move(policy)), options_(options), ctor_(ctor) {}

 protected:
  void Execute() override {
    std::unique_ptr<CudaModel> model;
    if (CheckStatus(CudaModel::Create(shape_, policy_, options_, &model))) model_ = std::move(model);
  }
  Napi::Value Result() override {
    Napi::Object handle = ctor_->New({});
    NativeModel::Unwrap(handle)->Attach(std::move(model_));
    return handle;
  }

 private:
  ModelShape shape_;
  PolicyShape policy_;
  ModelOptions options_;
  Napi::FunctionReference* ctor_;
  ModelPtr model_;
};

}  // namespace

// ---- NativeModel ----------------------------------------------------------------------------

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {}

Napi::Function NativeModel::Define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         InstanceMethod("uploadWeight", &NativeModel::UploadWeight),
                         InstanceMethod("fillRandomWeights", &NativeModel::FillRandomWeights),
                         InstanceMethod("forward", &NativeModel::Forward),
                         InstanceMethod("fillSyntheticCache", &NativeModel::FillSyntheticCache),
                         InstanceMethod("memory", &NativeModel::Memory),
                         InstanceMethod("dispose", &NativeModel::Dispose),
                     });
}

void NativeModel::Attach(std::shared_ptr<CudaModel> model) { model_ = std::move(model); }

std::shared_ptr<CudaModel> NativeModel::Live(const Napi::Env& env, const char* method) const {
  if (model_ == nullptr) {
    throw Napi::Error::New(env, std::string(method) + ": the CUDA model was disposed");
  }
  return model_;
}

namespace {
/** Turns a synchronous throw (bad argument, disposed) into a rejected promise, like the async errors. */
template <typename F>
Napi::Value AsPromise(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const Napi::Error& error) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
    deferred.Reject(error.Value());
    return deferred.Promise();
  }
}

Napi::Value Queue(CudaWorker* worker) {
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
}  // namespace

Napi::Value NativeModel::UploadWeight(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    ModelPtr model = Live(info.Env(), "uploadWeight");
    const int kind = IntArg(info[0], "kind", 0, 8);
    const int layer = IntArg(info[1], "layer", -1, kMaxInt);
    Napi::TypedArray data = TypedArg(info[2], napi_uint16_array, "data", "Uint16Array (bf16 bits)");
    const uint16_t* values = TypedData<uint16_t>(data);
    const std::size_t count = data.ElementLength();
    auto reference = std::make_shared<Napi::Reference<Napi::TypedArray>>(Napi::Persistent(data));
    auto* worker = new ModelWorker(info.Env(), model, [kind, layer, values, count, reference](CudaModel& m) {
      return m.UploadWeight(static_cast<WeightKind>(kind), layer, values, count);
    });
    return Queue(worker);
  });
}

Napi::Value NativeModel::FillRandomWeights(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    ModelPtr model = Live(info.Env(), "fillRandomWeights");
    const uint64_t seed = static_cast<uint64_t>(IntArg(info[0], "seed", 0, kMaxInt));
    return Queue(new ModelWorker(info.Env(), model, [seed](CudaModel& m) { return m.FillRandomWeights(seed); }));
  });
}

Napi::Value NativeModel::Forward(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    ModelPtr model = Live(info.Env(), "forward");
    const int sequence = IntArg(info[0], "sequence", 0, kMaxInt);
    const int start = IntArg(info[1], "start", 0, kMaxInt);
    Napi::TypedArray ids = TypedArg(info[2], napi_int32_array, "ids", "Int32Array");
    Napi::TypedArray cos = TypedArg(info[3], napi_float32_array, "cos", "Float32Array");
    Napi::TypedArray sin = TypedArg(info[4], napi_float32_array, "sin", "Float32Array");
    if (!info[5].IsBoolean()) throw Napi::TypeError::New(info.Env(), "allLogits must be a boolean");
    const std::size_t tokens = ids.ElementLength();
    const std::size_t half = model->shape().head_dim / 2;
    if (tokens == 0) throw Napi::RangeError::New(info.Env(), "forward: ids is empty");
    if (cos.ElementLength() != tokens * half || sin.ElementLength() != tokens * half) {
      throw Napi::RangeError::New(info.Env(), "forward: cos and sin must hold tokens * head_dim/2 = " +
                                                  std::to_string(tokens * half) + " values");
    }
    const int32_t* id_data = TypedData<int32_t>(ids);
    const float* cos_data = TypedData<float>(cos);
    const float* sin_data = TypedData<float>(sin);
    auto* worker = new ForwardWorker(info.Env(), model, sequence, start, std::vector<int32_t>(id_data, id_data + tokens),
                                     std::vector<float>(cos_data, cos_data + tokens * half),
                                     std::vector<float>(sin_data, sin_data + tokens * half),
                                     info[5].As<Napi::Boolean>().Value());
    return Queue(worker);
  });
}

Napi::Value NativeModel::FillSyntheticCache(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    ModelPtr model = Live(info.Env(), "fillSyntheticCache");
    const int sequence = IntArg(info[0], "sequence", 0, kMaxInt);
    const int length = IntArg(info[1], "length", 0, kMaxInt);
    const uint64_t seed = static_cast<uint64_t>(IntArg(info[2], "seed", 0, kMaxInt));
    return Queue(new ModelWorker(info.Env(), model, [sequence, length, seed](CudaModel& m) {
      return m.FillSyntheticCache(sequence, length, seed);
    }));
  });
}

Napi::Value NativeModel::Memory(const Napi::CallbackInfo& info) {
  ModelPtr model = Live(info.Env(), "memory");
  const ModelMemory memory = model->Memory();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("weightBytes", static_cast<double>(memory.weight_bytes));
  out.Set("retrievalCacheBytes", static_cast<double>(memory.retrieval_cache_bytes));
  out.Set("streamingCacheBytes", static_cast<double>(memory.streaming_cache_bytes));
  out.Set("scratchBytes", static_cast<double>(memory.scratch_bytes));
  return out;
}

Napi::Value NativeModel::Dispose(const Napi::CallbackInfo& info) {
  // Idempotent: a second dispose resolves at once.
  ModelPtr model = std::move(model_);
  if (model == nullptr) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
    deferred.Resolve(info.Env().Undefined());
    return deferred.Promise();
  }
  return Queue(new DisposeWorker(info.Env(), std::move(model)));
}

// ---- createModel ----------------------------------------------------------------------------

Napi::Value CreateModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return AsPromise(info, [&]() -> Napi::Value {
    if (!info[0].IsObject() || !info[1].IsObject() || !info[2].IsObject()) {
      throw Napi::TypeError::New(env, "createModel(shape, policy, options): three objects expected");
    }
    const Napi::Object s = info[0].As<Napi::Object>();
    const Napi::Object p = info[1].As<Napi::Object>();
    const Napi::Object o = info[2].As<Napi::Object>();
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
    PolicyShape policy;
    const Napi::Value heads = p.Get("retrievalKvHeads");
    if (!heads.IsArray()) throw Napi::TypeError::New(env, "policy.retrievalKvHeads must be an array");
    const Napi::Array array = heads.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      policy.retrieval_kv_heads.push_back(IntArg(array.Get(i), "policy.retrievalKvHeads[i]", 0, kMaxInt));
    }
    policy.sink = IntField(p, "sinkSize", 0, kMaxInt);
    policy.recent = IntField(p, "recentSize", 0, kMaxInt);
    ModelOptions options;
    options.device = IntField(o, "device", 0, kMaxInt);
    options.max_tokens = IntField(o, "maxTokens", 1, kMaxInt);
    options.max_sequences = IntField(o, "maxSequences", 1, 1024);
    auto* ctor = env.GetInstanceData<Napi::FunctionReference>();
    return Queue(new CreateWorker(env, std::move(shape), std::move(policy), options, ctor));
  });
}

void RegisterModelBinding(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = NativeModel::Define(env);
  auto* reference = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData<Napi::FunctionReference>(reference);
  exports.Set("createModel", Napi::Function::New(env, CreateModel, "createModel"));
}

}  // namespace duo
