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

#include "addon_data.h"
#include "binding_helpers.h"
#include "cuda_worker.h"
#include "host/cuda_model.h"

namespace duo {

using namespace binding;

namespace {

using ModelPtr = std::shared_ptr<CudaModel>;

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

/** A forward call's host inputs (sequence, start, ids [T] i32, cos/sin [T, d/2] f32), owned by the worker. */
struct ForwardInputs {
  int sequence = 0;
  int start = 0;
  std::vector<int32_t> ids;
  std::vector<float> cos;
  std::vector<float> sin;
  int tokens() const { return static_cast<int>(ids.size()); }
};

/** Reads info[0..4] = (sequence, start, ids, cos, sin) as forward and forwardSample take them. */
ForwardInputs ReadForwardInputs(const Napi::CallbackInfo& info, const CudaModel& model, const char* method) {
  ForwardInputs in;
  in.sequence = IntArg(info[0], "sequence", 0, kMaxInt);
  in.start = IntArg(info[1], "start", 0, kMaxInt);
  Napi::TypedArray ids = TypedArg(info[2], napi_int32_array, "ids", "Int32Array");
  Napi::TypedArray cos = TypedArg(info[3], napi_float32_array, "cos", "Float32Array");
  Napi::TypedArray sin = TypedArg(info[4], napi_float32_array, "sin", "Float32Array");
  const std::size_t tokens = ids.ElementLength();
  const std::size_t half = model.shape().head_dim / 2;
  if (tokens == 0) throw Napi::RangeError::New(info.Env(), std::string(method) + ": ids is empty");
  if (tokens > static_cast<std::size_t>(kMaxInt)) {
    throw Napi::RangeError::New(info.Env(), std::string(method) + ": more than 2^31 - 1 ids");
  }
  if (cos.ElementLength() != tokens * half || sin.ElementLength() != tokens * half) {
    throw Napi::RangeError::New(info.Env(), std::string(method) + ": cos and sin must hold tokens * head_dim/2 = " +
                                                std::to_string(tokens * half) + " values");
  }
  const int32_t* id_data = TypedData<int32_t>(ids);
  const float* cos_data = TypedData<float>(cos);
  const float* sin_data = TypedData<float>(sin);
  in.ids.assign(id_data, id_data + tokens);
  in.cos.assign(cos_data, cos_data + tokens * half);
  in.sin.assign(sin_data, sin_data + tokens * half);
  return in;
}

class ForwardWorker : public CudaWorker {
 public:
  ForwardWorker(Napi::Env env, ModelPtr model, ForwardInputs inputs, bool all_logits)
      : CudaWorker(env), model_(std::move(model)), in_(std::move(inputs)), all_logits_(all_logits) {
    const std::size_t rows = all_logits_ ? in_.ids.size() : 1;
    Napi::Float32Array logits = Napi::Float32Array::New(env, rows * model_->shape().vocab);
    logits_data_ = logits.Data();
    logits_ref_ = Napi::Persistent(logits);
  }

 protected:
  void Execute() override {
    CheckStatus(model_->Forward(in_.sequence, in_.start, in_.ids.data(), in_.tokens(), in_.cos.data(), in_.sin.data(),
                                all_logits_, logits_data_));
  }
  Napi::Value Result() override { return logits_ref_.Value(); }

 private:
  ModelPtr model_;
  ForwardInputs in_;
  bool all_logits_;
  float* logits_data_ = nullptr;
  Napi::Reference<Napi::Float32Array> logits_ref_;
};

/** forwardBatch: one decode step on each of several sequences; resolves to logits [batch, vocab] f32. */
class ForwardBatchWorker : public CudaWorker {
 public:
  ForwardBatchWorker(Napi::Env env, ModelPtr model, std::vector<int> sequences, std::vector<int> starts,
                     std::vector<int32_t> ids, std::vector<float> cos, std::vector<float> sin)
      : CudaWorker(env),
        model_(std::move(model)),
        sequences_(std::move(sequences)),
        starts_(std::move(starts)),
        ids_(std::move(ids)),
        cos_(std::move(cos)),
        sin_(std::move(sin)) {
    Napi::Float32Array logits = Napi::Float32Array::New(env, ids_.size() * model_->shape().vocab);
    logits_data_ = logits.Data();
    logits_ref_ = Napi::Persistent(logits);
  }

 protected:
  void Execute() override {
    CheckStatus(model_->ForwardBatch(sequences_.data(), starts_.data(), ids_.data(), static_cast<int>(ids_.size()),
                                     cos_.data(), sin_.data(), logits_data_));
  }
  Napi::Value Result() override { return logits_ref_.Value(); }

 private:
  ModelPtr model_;
  std::vector<int> sequences_;
  std::vector<int> starts_;
  std::vector<int32_t> ids_;
  std::vector<float> cos_;
  std::vector<float> sin_;
  float* logits_data_ = nullptr;
  Napi::Reference<Napi::Float32Array> logits_ref_;
};

/**
 * forwardSample: resolves to the id selected on the device. Logits that cannot be sampled from
 * reject with an Error naming the sequence and carrying `sampleCode` (sampling.cuh's negative code);
 * the forward itself has then succeeded and the sequence has advanced.
 */
class ForwardSampleWorker : public CudaWorker {
 public:
  ForwardSampleWorker(Napi::Env env, ModelPtr model, ForwardInputs inputs, SampleRequest request,
                      std::vector<int32_t> previous)
      : CudaWorker(env),
        model_(std::move(model)),
        in_(std::move(inputs)),
        request_(request),
        previous_(std::move(previous)) {
    request_.previous_tokens = previous_.data();
    request_.num_previous = static_cast<int>(previous_.size());
  }

 protected:
  void Execute() override {
    if (!CheckStatus(model_->ForwardSample(in_.sequence, in_.start, in_.ids.data(), in_.tokens(), in_.cos.data(),
                                           in_.sin.data(), request_, &sampled_))) {
      return;
    }
    if (sampled_ < 0) {
      SetError("forwardSample of " + std::to_string(in_.tokens()) + " tokens on sequence " +
               std::to_string(in_.sequence) + " at position " + std::to_string(in_.start) +
               ": cannot select a token: " + DescribeSampleCode(sampled_));
    }
  }
  void DecorateError(Napi::Object error) override {
    if (sampled_ < 0) error.Set("sampleCode", Napi::Number::New(Env(), sampled_));
  }
  Napi::Value Result() override { return Napi::Number::New(Env(), sampled_); }

 private:
  ModelPtr model_;
  ForwardInputs in_;
  SampleRequest request_;
  std::vector<int32_t> previous_;
  int32_t sampled_ = 0;
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
                         InstanceMethod("forwardSample", &NativeModel::ForwardSample),
                         InstanceMethod("forwardBatch", &NativeModel::ForwardBatch),
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
    ForwardInputs inputs = ReadForwardInputs(info, *model, "forward");
    if (!info[5].IsBoolean()) throw Napi::TypeError::New(info.Env(), "allLogits must be a boolean");
    return Queue(new ForwardWorker(info.Env(), model, std::move(inputs), info[5].As<Napi::Boolean>().Value()));
  });
}

Napi::Value NativeModel::ForwardSample(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    ModelPtr model = Live(env, "forwardSample");
    ForwardInputs inputs = ReadForwardInputs(info, *model, "forwardSample");
    if (!info[5].IsObject()) throw Napi::TypeError::New(env, "request must be an object");
    const Napi::Object r = info[5].As<Napi::Object>();
    const Napi::Value greedy = r.Get("greedy");
    if (!greedy.IsBoolean()) throw Napi::TypeError::New(env, "greedy must be a boolean");
    const auto in_range = [&](const char* name, bool ok, double value, const char* range) {
      if (!ok) {
        throw Napi::RangeError::New(env, std::string(name) + " must be " + range + ", got " + std::to_string(value));
      }
    };
    const double temperature = NumberField(r, "temperature");
    in_range("temperature", std::isfinite(temperature) && temperature >= 0, temperature, "finite and >= 0");
    const int top_k = IntField(r, "topK", 0, kMaxInt);
    const double top_p = NumberField(r, "topP");
    in_range("topP", top_p > 0 && top_p <= 1, top_p, "in (0, 1]");
    const double penalty = NumberField(r, "repetitionPenalty");
    in_range("repetitionPenalty", std::isfinite(penalty) && penalty > 0, penalty, "finite and > 0");
    const double uniform = NumberField(r, "uniform");
    in_range("uniform", uniform >= 0 && uniform <= 1, uniform, "in [0, 1]");
    Napi::TypedArray previous = TypedArg(r.Get("previousTokens"), napi_int32_array, "previousTokens", "Int32Array");
    if (previous.ElementLength() > static_cast<std::size_t>(kMaxInt)) {
      throw Napi::RangeError::New(env, "previousTokens holds more than 2^31 - 1 ids");
    }
    // fp32 from here on (sampling.cuh): the caller passes fp32-representable values for exact agreement.
    SampleRequest request;
    request.greedy = greedy.As<Napi::Boolean>().Value();
    request.params = SamplingParams{static_cast<float>(temperature), top_k, static_cast<float>(top_p),
                                    static_cast<float>(penalty)};
    request.uniform = static_cast<float>(uniform);
    const int32_t* previous_data = TypedData<int32_t>(previous);
    std::vector<int32_t> previous_ids(previous_data, previous_data + previous.ElementLength());
    return Queue(new ForwardSampleWorker(env, model, std::move(inputs), request, std::move(previous_ids)));
  });
}

Napi::Value NativeModel::ForwardBatch(const Napi::CallbackInfo& info) {
  return AsPromise(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    ModelPtr model = Live(env, "forwardBatch");
    Napi::TypedArray sequences = TypedArg(info[0], napi_int32_array, "sequences", "Int32Array");
    Napi::TypedArray starts = TypedArg(info[1], napi_int32_array, "starts", "Int32Array");
    Napi::TypedArray ids = TypedArg(info[2], napi_int32_array, "ids", "Int32Array");
    Napi::TypedArray cos = TypedArg(info[3], napi_float32_array, "cos", "Float32Array");
    Napi::TypedArray sin = TypedArg(info[4], napi_float32_array, "sin", "Float32Array");
    const std::size_t batch = ids.ElementLength();
    const std::size_t half = model->shape().head_dim / 2;
    if (batch == 0) throw Napi::RangeError::New(env, "forwardBatch: ids is empty");
    if (batch > static_cast<std::size_t>(kMaxInt)) throw Napi::RangeError::New(env, "forwardBatch: too many steps");
    if (sequences.ElementLength() != batch || starts.ElementLength() != batch) {
      throw Napi::RangeError::New(env, "forwardBatch: sequences, starts and ids must have the same length");
    }
    if (cos.ElementLength() != batch * half || sin.ElementLength() != batch * half) {
      throw Napi::RangeError::New(env, "forwardBatch: cos and sin must hold steps * head_dim/2 = " +
                                           std::to_string(batch * half) + " values");
    }
    const int32_t* sequence_data = TypedData<int32_t>(sequences);
    const int32_t* start_data = TypedData<int32_t>(starts);
    const int32_t* id_data = TypedData<int32_t>(ids);
    const float* cos_data = TypedData<float>(cos);
    const float* sin_data = TypedData<float>(sin);
    return Queue(new ForwardBatchWorker(env, model, std::vector<int>(sequence_data, sequence_data + batch),
                                        std::vector<int>(start_data, start_data + batch),
                                        std::vector<int32_t>(id_data, id_data + batch),
                                        std::vector<float>(cos_data, cos_data + batch * half),
                                        std::vector<float>(sin_data, sin_data + batch * half)));
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
    // Issue #18's CUDA graphs and fused decode kernels: off unless DUO_CUDA_GRAPHS=1 / DUO_CUDA_FUSED=1.
    ApplyDecodeEnvironment(&options);
    auto* ctor = &env.GetInstanceData<AddonData>()->model;
    return Queue(new CreateWorker(env, std::move(shape), std::move(policy), options, ctor));
  });
}

void RegisterModelBinding(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = NativeModel::Define(env);
  env.GetInstanceData<AddonData>()->model = Napi::Persistent(ctor);
  exports.Set("createModel", Napi::Function::New(env, CreateModel, "createModel"));
}

}  // namespace duo
