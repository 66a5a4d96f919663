// The forward pass of a bf16 decoder on one GPU, DESIGN §3 semantics: attention reads each head
// class's cache as it was before the call plus the call's own tokens (causal), then the call's
// keys/values are appended (retrieval: every token; streaming: sinks plus the last R in a ring).
#include "host/cuda_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "kernels/decode_attention.cuh"
#include "kernels/fill_random.cuh"
#include "kernels/fp32_activations.cuh"
#include "kernels/gemv_norm.cuh"
#include "kernels/kv_append.cuh"
#include "kernels/prefill_attention.cuh"

namespace duo {
namespace {

constexpr std::size_t kBf16 = sizeof(__nv_bfloat16);
constexpr std::size_t kF32 = sizeof(float);

std::string Layer(int layer) { return "layer " + std::to_string(layer); }

/** Every call may come from a different libuv thread: make the model's device current first. */
Status UseDevice(int device) { return Status::Cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")"); }

// decode_inputs_ layout (DecodeLengths first, 16-byte aligned pieces).
constexpr std::size_t kDecodeIdOffset = sizeof(DecodeLengths);
constexpr std::size_t kDecodeCosOffset = kDecodeIdOffset + 16;

/** "1" -> true, "0" -> false, anything else (or unset) -> fallback. */
bool Switch(const char* name, bool fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr) return fallback;
  if (std::strcmp(value, "1") == 0) return true;
  if (std::strcmp(value, "0") == 0) return false;
  return fallback;
}

}  // namespace

void ApplyDecodeEnvironment(ModelOptions* options) {
  options->decode_graphs = Switch("DUO_CUDA_GRAPHS", options->decode_graphs);
  options->fused_decode = Switch("DUO_CUDA_FUSED", options->fused_decode);
}

CudaModel::CudaModel(const ModelShape& shape, const PolicyShape& policy, const ModelOptions& options)
    : shape_(shape), policy_(policy), options_(options) {}

CudaModel::~CudaModel() {
  cudaSetDevice(options_.device);
  DropDecodeGraphs();
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
}

Status CudaModel::Create(const ModelShape& shape, const PolicyShape& policy, const ModelOptions& options,
                         std::unique_ptr<CudaModel>* out) {
  const auto positive = [](int value) { return value > 0; };
  if (!positive(shape.num_layers) || !positive(shape.hidden) || !positive(shape.num_q_heads) ||
      !positive(shape.num_kv_heads) || !positive(shape.intermediate) || !positive(shape.vocab)) {
    return Status::Error("model shape has a non-positive dimension");
  }
  if (shape.num_q_heads % shape.num_kv_heads != 0) {
    return Status::Error("num_q_heads (" + std::to_string(shape.num_q_heads) + ") is not a multiple of num_kv_heads (" +
                         std::to_string(shape.num_kv_heads) + ")");
  }
  if (shape.head_dim != 16 && shape.head_dim != 32 && shape.head_dim != 64 && shape.head_dim != 128) {
    return Status::Error("head_dim " + std::to_string(shape.head_dim) + " is not supported (16, 32, 64 or 128)");
  }
  if (shape.hidden % 8 != 0 || shape.intermediate % 8 != 0) {
    return Status::Error("hidden (" + std::to_string(shape.hidden) + ") and intermediate (" +
                         std::to_string(shape.intermediate) + ") sizes must be multiples of 8");
  }
  if (static_cast<int>(policy.retrieval_kv_heads.size()) != shape.num_layers) {
    return Status::Error("policy has " + std::to_string(policy.retrieval_kv_heads.size()) + " layers, the model " +
                         std::to_string(shape.num_layers));
  }
  for (int l = 0; l < shape.num_layers; ++l) {
    const int fr = policy.retrieval_kv_heads[l];
    if (fr < 0 || fr > shape.num_kv_heads) {
      return Status::Error(Layer(l) + ": " + std::to_string(fr) + " retrieval KV heads is outside [0, " +
                           std::to_string(shape.num_kv_heads) + "]");
    }
  }
  if (policy.sink < 0 || policy.recent < 0) return Status::Error("sink and recent sizes must be >= 0");
  if (options.max_tokens < 1) return Status::Error("max_tokens must be >= 1");
  if (options.max_sequences < 1) return Status::Error("max_sequences must be >= 1");

  int device_count = 0;
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaGetDeviceCount(&device_count), "cudaGetDeviceCount"));
  if (options.device < 0 || options.device >= device_count) {
    return Status::Error("device index " + std::to_string(options.device) + " is out of range: this machine has " +
                         std::to_string(device_count) + " CUDA device(s)");
  }
  std::unique_ptr<CudaModel> model(new CudaModel(shape, policy, options));
  DUO_RETURN_IF_ERROR(UseDevice(options.device));
  DUO_RETURN_IF_ERROR(Status::Cuda(
      cudaDeviceGetAttribute(&model->num_sms_, cudaDevAttrMultiProcessorCount, options.device),
      "cudaDeviceGetAttribute(multiprocessors)"));
  DUO_RETURN_IF_ERROR(
      Status::Cuda(cudaStreamCreateWithFlags(&model->stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
  DUO_RETURN_IF_ERROR(Gemm::Create(&model->gemm_));
  DUO_RETURN_IF_ERROR(model->Allocate());
  model->UpdateSnapshot();
  *out = std::move(model);
  return Status::Ok();
}

Status CudaModel::Allocate() {
  const ModelShape& s = shape_;
  const std::size_t h = s.hidden;
  const std::size_t d = s.head_dim;
  DUO_RETURN_IF_ERROR(embed_.Allocate(static_cast<std::size_t>(s.vocab) * h * kBf16, "embed_tokens"));
  DUO_RETURN_IF_ERROR(final_norm_.Allocate(h * kBf16, "the final norm"));
  if (!s.tied_embeddings) DUO_RETURN_IF_ERROR(lm_head_.Allocate(static_cast<std::size_t>(s.vocab) * h * kBf16, "lm_head"));
  layers_.resize(s.num_layers);
  for (int l = 0; l < s.num_layers; ++l) {
    LayerWeights& w = layers_[l];
    const std::string at = " of " + Layer(l);
    DUO_RETURN_IF_ERROR(w.input_norm.Allocate(h * kBf16, "input_layernorm" + at));
    DUO_RETURN_IF_ERROR(w.qkv.Allocate(static_cast<std::size_t>(QkvWidth()) * h * kBf16, "q|k|v_proj" + at));
    DUO_RETURN_IF_ERROR(w.o.Allocate(h * s.num_q_heads * d * kBf16, "o_proj" + at));
    DUO_RETURN_IF_ERROR(w.post_norm.Allocate(h * kBf16, "post_attention_layernorm" + at));
    DUO_RETURN_IF_ERROR(w.gate_up.Allocate(2 * static_cast<std::size_t>(s.intermediate) * h * kBf16, "gate|up_proj" + at));
    DUO_RETURN_IF_ERROR(w.down.Allocate(h * s.intermediate * kBf16, "down_proj" + at));
  }

  // Caches: one block per sequence and head class, carved into per-layer K and V.
  const std::size_t window = static_cast<std::size_t>(policy_.sink) + policy_.recent;
  sequences_.resize(options_.max_sequences);
  for (int q = 0; q < options_.max_sequences; ++q) {
    Sequence& sequence = sequences_[q];
    std::size_t retrieval_elements = 0;
    std::size_t streaming_elements = 0;
    for (int l = 0; l < s.num_layers; ++l) {
      retrieval_elements += 2 * static_cast<std::size_t>(options_.max_tokens) * RetrievalHeads(l) * d;
      streaming_elements += 2 * window * StreamingHeads(l) * d;
    }
    const std::string which = " of sequence " + std::to_string(q);
    DUO_RETURN_IF_ERROR(sequence.retrieval.Allocate(retrieval_elements * kBf16,
                              "the retrieval KV cache (" + std::to_string(options_.max_tokens) + " tokens)" + which));
    DUO_RETURN_IF_ERROR(sequence.streaming.Allocate(streaming_elements * kBf16, "the streaming KV cache" + which));
    sequence.layers.resize(s.num_layers);
    __nv_bfloat16* r = sequence.retrieval.As<__nv_bfloat16>();
    __nv_bfloat16* st = sequence.streaming.As<__nv_bfloat16>();
    for (int l = 0; l < s.num_layers; ++l) {
      LayerCache& c = sequence.layers[l];
      const std::size_t r_size = static_cast<std::size_t>(options_.max_tokens) * RetrievalHeads(l) * d;
      const std::size_t s_size = window * StreamingHeads(l) * d;
      if (r_size > 0) {
        c.retrieval_k = r;
        c.retrieval_v = r + r_size;
        r += 2 * r_size;
      }
      if (s_size > 0) {
        c.streaming_k = st;
        c.streaming_v = st + s_size;
        st += 2 * s_size;
      }
    }
  }
  decode_workspace_bytes_ = DecodeAttentionWorkspaceBytes(options_.max_tokens, s.num_q_heads, s.head_dim, num_sms_);
  DUO_RETURN_IF_ERROR(decode_workspace_.Allocate(decode_workspace_bytes_, "the decode attention workspace"));
  // The decode-step path's few bytes, allocated whether or not it is on (SetDecodeOptions may turn it on).
  decode_staging_.assign(kDecodeCosOffset + 2 * (d / 2) * kF32, 0);
  DUO_RETURN_IF_ERROR(decode_inputs_.Allocate(decode_staging_.size(), "the decode step's inputs"));
  DUO_RETURN_IF_ERROR(residual_alt_.Allocate(h * kF32, "the decode step's second residual row"));
  fused_supported_ = s.hidden % 8 == 0 && s.hidden <= 32768;
  return EnsureScratch(1);
}

Status CudaModel::EnsureScratch(int tokens) {
  if (tokens <= scratch_tokens_) return Status::Ok();
  const ModelShape& s = shape_;
  const std::size_t t = tokens;
  const std::size_t h = s.hidden;
  const std::string rows = " (" + std::to_string(tokens) + " tokens)";
  // Allocate() frees a buffer before replacing it: until every buffer has its new size, none may be
  // trusted, so a failure here leaves the scratch empty (the next call allocates again).
  scratch_tokens_ = 0;
  ++scratch_generation_;  // captured decode graphs point at the old buffers
  // fp32: the residual stream and every GEMM output; bf16: GEMM inputs and q|k|v (fp32_activations.cuh).
  DUO_RETURN_IF_ERROR(residual_.Allocate(t * h * kF32, "the residual stream" + rows));
  DUO_RETURN_IF_ERROR(normed_.Allocate(t * h * kBf16, "normalised activations" + rows));
  DUO_RETURN_IF_ERROR(delta_.Allocate(t * h * kF32, "layer outputs" + rows));
  DUO_RETURN_IF_ERROR(qkv32_.Allocate(t * QkvWidth() * kF32, "q|k|v projections" + rows));
  DUO_RETURN_IF_ERROR(qkv_.Allocate(t * QkvWidth() * kBf16, "q|k|v activations" + rows));
  DUO_RETURN_IF_ERROR(
      attention_.Allocate(t * s.num_q_heads * s.head_dim * kBf16, "attention outputs" + rows));
  DUO_RETURN_IF_ERROR(gate_up_.Allocate(t * 2 * s.intermediate * kF32, "gate|up activations" + rows));
  DUO_RETURN_IF_ERROR(activation_.Allocate(t * s.intermediate * kBf16, "MLP activations" + rows));
  DUO_RETURN_IF_ERROR(ids_.Allocate(t * sizeof(int32_t), "token ids" + rows));
  DUO_RETURN_IF_ERROR(cos_.Allocate(t * (s.head_dim / 2) * sizeof(float), "RoPE cos" + rows));
  DUO_RETURN_IF_ERROR(sin_.Allocate(t * (s.head_dim / 2) * sizeof(float), "RoPE sin" + rows));
  scratch_tokens_ = tokens;
  return Status::Ok();
}

Status CudaModel::CheckSequence(int sequence, const char* what) const {
  if (sequence < 0 || sequence >= options_.max_sequences) {
    return Status::Error(std::string(what) + ": sequence " + std::to_string(sequence) + " is outside [0, " +
                         std::to_string(options_.max_sequences) + ")");
  }
  return Status::Ok();
}

Status CudaModel::UploadWeight(WeightKind kind, int layer, const uint16_t* data, std::size_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  const bool per_layer = kind != WeightKind::kEmbed && kind != WeightKind::kFinalNorm && kind != WeightKind::kLmHead;
  if (per_layer && (layer < 0 || layer >= shape_.num_layers)) {
    return Status::Error("weight upload: layer " + std::to_string(layer) + " is outside [0, " +
                         std::to_string(shape_.num_layers) + ")");
  }
  DeviceAllocation* target = nullptr;
  switch (kind) {
    case WeightKind::kEmbed: target = &embed_; break;
    case WeightKind::kFinalNorm: target = &final_norm_; break;
    case WeightKind::kLmHead:
      if (shape_.tied_embeddings) return Status::Error("weight upload: lm_head is tied to embed_tokens in this model");
      target = &lm_head_;
      break;
    case WeightKind::kInputNorm: target = &layers_[layer].input_norm; break;
    case WeightKind::kQkv: target = &layers_[layer].qkv; break;
    case WeightKind::kO: target = &layers_[layer].o; break;
    case WeightKind::kPostNorm: target = &layers_[layer].post_norm; break;
    case WeightKind::kGateUp: target = &layers_[layer].gate_up; break;
    case WeightKind::kDown: target = &layers_[layer].down; break;
    default: return Status::Error("weight upload: unknown weight kind " + std::to_string(static_cast<int>(kind)));
  }
  if (count * kBf16 != target->bytes()) {
    return Status::Error("weight upload: kind " + std::to_string(static_cast<int>(kind)) + " of " + Layer(layer) +
                         " expects " + std::to_string(target->bytes() / kBf16) + " values, got " + std::to_string(count));
  }
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemcpyAsync(target->As<void>(), data, target->bytes(), cudaMemcpyHostToDevice, stream_),
                                   "cudaMemcpyAsync(weight)"));
  return Status::Cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(weight upload)");
}

Status CudaModel::FillRandomWeights(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  uint64_t stream_seed = seed * 1000003ull;
  // Matrices uniform in ±0.02 (HF's init std), norm weights 1 ± 0.02: activations stay O(1).
  const auto fill = [&](DeviceAllocation& a, float scale, float offset) {
    return Status::Cuda(
        LaunchFillRandomBf16(a.As<__nv_bfloat16>(), a.bytes() / kBf16, ++stream_seed, scale, offset, stream_),
        "fill_random kernel");
  };
  DUO_RETURN_IF_ERROR(fill(embed_, 0.02f, 0.0f));
  DUO_RETURN_IF_ERROR(fill(final_norm_, 0.02f, 1.0f));
  if (!shape_.tied_embeddings) DUO_RETURN_IF_ERROR(fill(lm_head_, 0.02f, 0.0f));
  for (LayerWeights& w : layers_) {
    DUO_RETURN_IF_ERROR(fill(w.input_norm, 0.02f, 1.0f));
    DUO_RETURN_IF_ERROR(fill(w.qkv, 0.02f, 0.0f));
    DUO_RETURN_IF_ERROR(fill(w.o, 0.02f, 0.0f));
    DUO_RETURN_IF_ERROR(fill(w.post_norm, 0.02f, 1.0f));
    DUO_RETURN_IF_ERROR(fill(w.gate_up, 0.02f, 0.0f));
    DUO_RETURN_IF_ERROR(fill(w.down, 0.02f, 0.0f));
  }
  return Status::Cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(random weights)");
}

std::string DescribeSampleCode(int32_t code) {
  switch (code) {
    case kSampleNaN: return "the logits contain NaN";
    case kSampleAllNegInf: return "every candidate token has logit -Infinity";
    case kSampleNoMass: return "no token has a positive probability";
    default: return "unknown sampling result code " + std::to_string(code);
  }
}

Status CudaModel::Forward(int sequence_index, int start, const int32_t* ids, int tokens, const float* cos, const float* sin,
                          bool all_logits, float* logits) {
  std::lock_guard<std::mutex> lock(mutex_);
  ForwardOutput output;
  output.all_logits = all_logits;
  output.logits = logits;
  return RunForward(sequence_index, start, ids, tokens, cos, sin, output);
}

Status CudaModel::ForwardSample(int sequence_index, int start, const int32_t* ids, int tokens, const float* cos,
                                const float* sin, const SampleRequest& request, int32_t* sampled) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Everything LaunchSample would refuse is refused here, before the caches change.
  const SamplingParams& p = request.params;
  const auto bad = [](const std::string& what) { return Status::Error("forwardSample: " + what); };
  if (sampled == nullptr) return bad("no place for the sampled id");
  if (!request.greedy && !(std::isfinite(p.temperature) && p.temperature > 0.0f)) {
    return bad("temperature must be finite and > 0 unless greedy, got " + std::to_string(p.temperature));
  }
  if (!request.greedy && p.top_k < 0) return bad("top_k must be >= 0, got " + std::to_string(p.top_k));
  if (!request.greedy && !(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return bad("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  if (!request.greedy && !(request.uniform >= 0.0f && request.uniform <= 1.0f)) {
    return bad("uniform must be in [0, 1], got " + std::to_string(request.uniform));
  }
  if (!(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f)) {
    return bad("repetition_penalty must be finite and > 0, got " + std::to_string(p.repetition_penalty));
  }
  if (shape_.vocab > (1 << 30)) return bad("vocab " + std::to_string(shape_.vocab) + " exceeds 2^30");
  if (p.repetition_penalty != 1.0f) {
    if (request.num_previous < 0 || (request.num_previous > 0 && request.previous_tokens == nullptr)) {
      return bad("the repetition-penalty ids are missing");
    }
    for (int i = 0; i < request.num_previous; ++i) {
      const int32_t id = request.previous_tokens[i];
      if (id < 0 || id >= shape_.vocab) {
        return bad("repetition-penalty id " + std::to_string(id) + " at index " + std::to_string(i) +
                   " is outside the vocabulary [0, " + std::to_string(shape_.vocab) + ")");
      }
    }
  }
  ForwardOutput output;
  output.sample = &request;
  output.sampled = sampled;
  return RunForward(sequence_index, start, ids, tokens, cos, sin, output);
}

Status CudaModel::PrepareSelection(const SampleRequest& request) {
  if (sample_id_.bytes() == 0) DUO_RETURN_IF_ERROR(sample_id_.Allocate(sizeof(int32_t), "the sampled token id"));
  const bool penalty = request.params.repetition_penalty != 1.0f && request.num_previous > 0;
  if (request.greedy && !penalty) return Status::Ok();  // LaunchArgmax needs nothing else
  const std::size_t workspace_bytes = SampleWorkspaceBytes(shape_.vocab);
  if (sample_workspace_.bytes() < workspace_bytes) {
    DUO_RETURN_IF_ERROR(sample_workspace_.Allocate(
        workspace_bytes, "the sampling workspace (vocab " + std::to_string(shape_.vocab) + ")"));
  }
  if (!penalty) return Status::Ok();
  const std::size_t previous_bytes = static_cast<std::size_t>(request.num_previous) * sizeof(int32_t);
  if (sample_previous_.bytes() < previous_bytes) {
    // Grown geometrically: a generation adds about one id per step.
    const std::size_t bytes = std::max({previous_bytes, 2 * sample_previous_.bytes(), std::size_t{4096}});
    DUO_RETURN_IF_ERROR(sample_previous_.Allocate(
        bytes, "the repetition-penalty ids (" + std::to_string(request.num_previous) + " ids)"));
  }
  return Status::Cuda(cudaMemcpyAsync(sample_previous_.As<void>(), request.previous_tokens, previous_bytes,
                                      cudaMemcpyHostToDevice, stream_),
                      "copy the repetition-penalty ids");
}

Status CudaModel::LaunchSelection(const float* logits, const SampleRequest& request) {
  const SamplingParams& p = request.params;
  const bool penalty = p.repetition_penalty != 1.0f && request.num_previous > 0;
  int32_t* out = sample_id_.As<int32_t>();
  if (request.greedy && !penalty) {
    return Status::Cuda(LaunchArgmax(logits, shape_.vocab, out, stream_), "argmax kernel");
  }
  // Temperature 0 is LaunchSample's greedy (argmax after the penalty); uniform is then unused.
  const SamplingParams params = request.greedy ? SamplingParams{0.0f, 0, 1.0f, p.repetition_penalty} : p;
  const float uniform = request.greedy ? 0.0f : request.uniform;
  return Status::Cuda(LaunchSample(logits, shape_.vocab, params, penalty ? sample_previous_.As<int32_t>() : nullptr,
                                   penalty ? request.num_previous : 0, uniform, sample_workspace_.As<void>(),
                                   sample_workspace_.bytes(), out, stream_),
                      "sampling kernel");
}

Status CudaModel::PrepareAppend(int sequence_index, int start, const int32_t* ids, int tokens, const char* what,
                                Sequence** out) {
  DUO_RETURN_IF_ERROR(CheckSequence(sequence_index, what));
  Sequence& sequence = sequences_[sequence_index];
  if (start == 0) {
    sequence.length = 0;
    sequence.broken.clear();
  } else if (start != sequence.length) {
    return Status::Error(std::string(what) + ": sequence " + std::to_string(sequence_index) + " holds " +
                         std::to_string(sequence.length) + " tokens, the call assumes " + std::to_string(start));
  }
  if (!sequence.broken.empty()) {
    return Status::Error(std::string(what) + ": sequence " + std::to_string(sequence_index) +
                         " was left inconsistent by a failed forward (" + sequence.broken + "); reset it first");
  }
  if (tokens < 1) return Status::Error(std::string(what) + ": no tokens given");
  for (int t = 0; t < tokens; ++t) {
    if (ids[t] < 0 || ids[t] >= shape_.vocab) {
      return Status::Error(std::string(what) + ": token id " + std::to_string(ids[t]) + " at index " +
                           std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(shape_.vocab) + ")");
    }
  }
  if (static_cast<int64_t>(start) + tokens > options_.max_tokens) {
    return Status::Error(std::string(what) + ": " + std::to_string(start) + " cached + " + std::to_string(tokens) +
                         " new tokens exceed the capacity of maxTokens = " + std::to_string(options_.max_tokens));
  }
  *out = &sequence;
  return Status::Ok();
}

Status CudaModel::RunForward(int sequence_index, int start, const int32_t* ids, int tokens, const float* cos,
                             const float* sin, const ForwardOutput& output) {
  const char* what = output.sample != nullptr ? "forwardSample" : "forward";
  Sequence* appended = nullptr;
  DUO_RETURN_IF_ERROR(PrepareAppend(sequence_index, start, ids, tokens, what, &appended));
  Sequence& sequence = *appended;
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  DUO_RETURN_IF_ERROR(EnsureScratch(tokens));
  const bool all_logits = output.all_logits && output.sample == nullptr;
  const int rows = all_logits ? tokens : 1;
  const std::size_t logits_bytes = static_cast<std::size_t>(rows) * shape_.vocab * sizeof(float);
  if (logits_.bytes() < logits_bytes) {
    ++scratch_generation_;  // captured decode graphs write the old logits buffer
    DUO_RETURN_IF_ERROR(logits_.Allocate(logits_bytes, "logits"));
  }
  if (output.sample != nullptr) DUO_RETURN_IF_ERROR(PrepareSelection(*output.sample));

  const bool decode_step = UsesDecodeStep(tokens);
  if (decode_step) {
    DUO_RETURN_IF_ERROR(WriteDecodeInputs(start, ids[0], cos, sin));
  } else {
    DUO_RETURN_IF_ERROR(UploadRows(ids, tokens, cos, sin));
  }
  // From here on the caches change: a failure leaves the sequence marked for reset.
  const Status status = [&]() -> Status {
    if (decode_step) {
      DUO_RETURN_IF_ERROR(RunDecodeStep(sequence));  // leaves the one row's logits in logits_
    } else {
      DUO_RETURN_IF_ERROR(RunLayers(sequence, tokens, start));
      // normed_ holds the final norm of every row; lm_head reads the rows asked for, in fp32.
      const __nv_bfloat16* head_input =
          normed_.As<__nv_bfloat16>() + (all_logits ? 0 : static_cast<std::size_t>(tokens - 1) * shape_.hidden);
      const __nv_bfloat16* head = shape_.tied_embeddings ? embed_.As<__nv_bfloat16>() : lm_head_.As<__nv_bfloat16>();
      DUO_RETURN_IF_ERROR(gemm_->Run(head_input, head, logits_.As<void>(), GemmOutput::kF32, rows, shape_.vocab,
                                     shape_.hidden, stream_));
    }
    if (output.sample != nullptr) {
      // The logits stay here: only the selected id (or a negative sampling code) comes back.
      DUO_RETURN_IF_ERROR(LaunchSelection(logits_.As<float>(), *output.sample));
      DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemcpyAsync(output.sampled, sample_id_.As<void>(), sizeof(int32_t),
                                                       cudaMemcpyDeviceToHost, stream_),
                                       "copy the sampled id"));
    } else {
      DUO_RETURN_IF_ERROR(Status::Cuda(
          cudaMemcpyAsync(output.logits, logits_.As<void>(), logits_bytes, cudaMemcpyDeviceToHost, stream_),
          "copy logits"));
    }
    return Status::Cuda(cudaStreamSynchronize(stream_), std::string(what) + " (cudaStreamSynchronize)");
  }();
  if (!status.ok()) {
    sequence.broken = status.message();
    return status;
  }
  sequence.length = start + tokens;
  UpdateSnapshot();
  return Status::Ok();
}

Status CudaModel::UploadRows(const int32_t* ids, int rows, const float* cos, const float* sin) {
  const std::size_t half = shape_.head_dim / 2;
  DUO_RETURN_IF_ERROR(Status::Cuda(
      cudaMemcpyAsync(ids_.As<void>(), ids, rows * sizeof(int32_t), cudaMemcpyHostToDevice, stream_), "copy ids"));
  DUO_RETURN_IF_ERROR(Status::Cuda(
      cudaMemcpyAsync(cos_.As<void>(), cos, rows * half * sizeof(float), cudaMemcpyHostToDevice, stream_), "copy cos"));
  DUO_RETURN_IF_ERROR(Status::Cuda(
      cudaMemcpyAsync(sin_.As<void>(), sin, rows * half * sizeof(float), cudaMemcpyHostToDevice, stream_), "copy sin"));
  return Status::Cuda(LaunchEmbeddingF32(embed_.As<__nv_bfloat16>(), ids_.As<int32_t>(), rows, shape_.hidden,
                                         residual_.As<float>(), stream_),
                      "embedding kernel");
}

Status CudaModel::RunLayers(Sequence& sequence, int tokens, int start) {
  return RunLayerStack(tokens, [&](int layer, __nv_bfloat16* qkv, __nv_bfloat16* attention) {
    return AttendSequence(sequence, layer, tokens, start, qkv, attention);
  });
}

template <typename AttentionArgs>
void CudaModel::DescribeAttention(AttentionArgs& args, const LayerCache& cache, int layer, __nv_bfloat16* qkv,
                                  __nv_bfloat16* attention, int retrieval_len, int streaming_len) const {
  args.qkv = qkv;
  args.retrieval_k = cache.retrieval_k;
  args.retrieval_v = cache.retrieval_v;
  args.retrieval_len = retrieval_len;
  args.streaming_k = cache.streaming_k;
  args.streaming_v = cache.streaming_v;
  args.streaming_len = streaming_len;
  args.num_q_heads = shape_.num_q_heads;
  args.num_kv_heads = shape_.num_kv_heads;
  args.num_retrieval_kv_heads = RetrievalHeads(layer);
  args.head_dim = shape_.head_dim;
  args.scale = 1.0f / std::sqrt(static_cast<float>(shape_.head_dim));
  args.out = attention;
}

Status CudaModel::AttendSequence(Sequence& sequence, int l, int tokens, int start, __nv_bfloat16* qkv,
                                 __nv_bfloat16* attention) {
  const ModelShape& s = shape_;
  const int d = s.head_dim;
  const int window = policy_.sink + policy_.recent;
  const LayerCache& cache = sequence.layers[l];
  const int fr = RetrievalHeads(l);
  const int streaming_len = std::min(start, window);
  // The split-K decode kernel covers head_dim 32/64/128; the tiny head_dim-16 test models decode
  // through the prefill kernel, which is exact for a chunk of one token too.
  if (tokens == 1 && d != 16) {
    DecodeAttentionArgs args{};
    DescribeAttention(args, cache, l, qkv, attention, start, streaming_len);
    DUO_RETURN_IF_ERROR(Status::Cuda(
        LaunchDecodeAttention(args, decode_workspace_.As<void>(), decode_workspace_bytes_, num_sms_, stream_),
        "decode attention kernel (" + Layer(l) + ")"));
  } else {
    PrefillAttentionArgs args{};
    DescribeAttention(args, cache, l, qkv, attention, start, streaming_len);
    args.tokens = tokens;
    DUO_RETURN_IF_ERROR(
        Status::Cuda(LaunchPrefillAttention(args, stream_), "prefill attention kernel (" + Layer(l) + ")"));
  }
  return Status::Cuda(LaunchKvAppend(qkv, tokens, start, s.num_q_heads, s.num_kv_heads, fr, d, cache.retrieval_k,
                                     cache.retrieval_v, cache.streaming_k, cache.streaming_v, policy_.sink,
                                     policy_.recent, stream_),
                      "kv_append kernel (" + Layer(l) + ")");
}

Status CudaModel::RunLayerStack(int tokens,
                                const std::function<Status(int, __nv_bfloat16*, __nv_bfloat16*)>& attend) {
  const ModelShape& s = shape_;
  const int d = s.head_dim;
  float* residual = residual_.As<float>();
  __nv_bfloat16* normed = normed_.As<__nv_bfloat16>();
  float* qkv32 = qkv32_.As<float>();
  __nv_bfloat16* qkv = qkv_.As<__nv_bfloat16>();
  __nv_bfloat16* attention = attention_.As<__nv_bfloat16>();
  float* delta = delta_.As<float>();
  float* gate_up = gate_up_.As<float>();
  __nv_bfloat16* activation = activation_.As<__nv_bfloat16>();

  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual, nullptr, layers_[0].input_norm.As<__nv_bfloat16>(),
                                                         tokens, s.hidden, s.rms_eps, normed, stream_),
                                   "rms_norm kernel"));
  for (int l = 0; l < s.num_layers; ++l) {
    const LayerWeights& w = layers_[l];
    DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.qkv.As<__nv_bfloat16>(), qkv32, GemmOutput::kF32, tokens, QkvWidth(),
                                   s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchRopeF32(qkv32, tokens, s.num_q_heads, s.num_kv_heads, d, cos_.As<float>(),
                                                   sin_.As<float>(), qkv, stream_),
                                     "rope kernel (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(attend(l, qkv, attention));
    DUO_RETURN_IF_ERROR(gemm_->Run(attention, w.o.As<__nv_bfloat16>(), delta, GemmOutput::kF32, tokens, s.hidden,
                                   s.num_q_heads * d, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual, delta, w.post_norm.As<__nv_bfloat16>(), tokens,
                                                           s.hidden, s.rms_eps, normed, stream_),
                                     "residual + rms_norm kernel (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.gate_up.As<__nv_bfloat16>(), gate_up, GemmOutput::kF32, tokens,
                                   2 * s.intermediate, s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchSwiGluF32(gate_up, tokens, s.intermediate, activation, stream_),
                                     "swiglu kernel (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(activation, w.down.As<__nv_bfloat16>(), delta, GemmOutput::kF32, tokens, s.hidden,
                                   s.intermediate, stream_));
    const __nv_bfloat16* next_norm = l + 1 < s.num_layers ? layers_[l + 1].input_norm.As<__nv_bfloat16>()
                                                          : final_norm_.As<__nv_bfloat16>();
    DUO_RETURN_IF_ERROR(Status::Cuda(
        LaunchResidualRmsNorm(residual, delta, next_norm, tokens, s.hidden, s.rms_eps, normed, stream_),
        "residual + rms_norm kernel (" + Layer(l) + ")"));
  }
  return Status::Ok();
}

Status CudaModel::ForwardBatch(const int* sequence_indices, const int* starts, const int32_t* ids, int batch,
                               const float* cos, const float* sin, float* logits) {
  std::lock_guard<std::mutex> lock(mutex_);
  const char* what = "forwardBatch";
  if (batch < 1) return Status::Error("forwardBatch: no decode steps given");
  std::vector<Sequence*> rows(batch);
  for (int b = 0; b < batch; ++b) {
    // As a one-token forward checks (start 0 begins the sequence afresh, as after a reset).
    DUO_RETURN_IF_ERROR(PrepareAppend(sequence_indices[b], starts[b], ids + b, 1, what, &rows[b]));
    for (int other = 0; other < b; ++other) {
      if (rows[other] == rows[b]) {
        return Status::Error("forwardBatch: sequence " + std::to_string(sequence_indices[b]) + " appears twice");
      }
    }
  }
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  DUO_RETURN_IF_ERROR(EnsureScratch(batch));
  const std::size_t logits_bytes = static_cast<std::size_t>(batch) * shape_.vocab * sizeof(float);
  if (logits_.bytes() < logits_bytes) {
    ++scratch_generation_;  // captured decode graphs write the old logits buffer
    DUO_RETURN_IF_ERROR(logits_.Allocate(logits_bytes, "logits"));
  }
  DUO_RETURN_IF_ERROR(UploadRows(ids, batch, cos, sin));
  // From here on the caches change: a failure leaves every sequence of the batch marked for reset.
  const Status status = [&]() -> Status {
    const std::size_t qkv_row = QkvWidth();
    const std::size_t attention_row = static_cast<std::size_t>(shape_.num_q_heads) * shape_.head_dim;
    DUO_RETURN_IF_ERROR(RunLayerStack(batch, [&](int layer, __nv_bfloat16* qkv, __nv_bfloat16* attention) {
      // Row b is sequence b's one token: its attention and append read and write its own caches.
      for (int b = 0; b < batch; ++b) {
        DUO_RETURN_IF_ERROR(AttendSequence(*rows[b], layer, 1, starts[b], qkv + b * qkv_row,
                                           attention + b * attention_row));
      }
      return Status::Ok();
    }));
    const __nv_bfloat16* head = shape_.tied_embeddings ? embed_.As<__nv_bfloat16>() : lm_head_.As<__nv_bfloat16>();
    DUO_RETURN_IF_ERROR(gemm_->Run(normed_.As<__nv_bfloat16>(), head, logits_.As<void>(), GemmOutput::kF32, batch,
                                   shape_.vocab, shape_.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(
        cudaMemcpyAsync(logits, logits_.As<void>(), logits_bytes, cudaMemcpyDeviceToHost, stream_), "copy logits"));
    return Status::Cuda(cudaStreamSynchronize(stream_), "forwardBatch (cudaStreamSynchronize)");
  }();
  if (!status.ok()) {
    for (Sequence* sequence : rows) sequence->broken = status.message();
    return status;
  }
  for (int b = 0; b < batch; ++b) rows[b]->length = starts[b] + 1;
  UpdateSnapshot();
  return Status::Ok();
}

// ---- The decode-step path (issue #18) --------------------------------------------------------

bool CudaModel::UsesDecodeStep(int tokens) const {
  // head_dim 16 decodes through the prefill kernel, which takes its lengths by value.
  return tokens == 1 && shape_.head_dim != 16 && (options_.decode_graphs || options_.fused_decode);
}

Status CudaModel::WriteDecodeInputs(int start, int32_t id, const float* cos, const float* sin) {
  const std::size_t half = shape_.head_dim / 2;
  const DecodeLengths lengths{start, std::min(start, policy_.sink + policy_.recent), start, 0};
  unsigned char* staging = decode_staging_.data();
  std::memcpy(staging, &lengths, sizeof lengths);
  std::memcpy(staging + kDecodeIdOffset, &id, sizeof id);
  std::memcpy(staging + kDecodeCosOffset, cos, half * kF32);
  std::memcpy(staging + kDecodeCosOffset + half * kF32, sin, half * kF32);
  // Pageable source: the copy is staged before cudaMemcpyAsync returns, so the next step may
  // rewrite decode_staging_ at once.
  return Status::Cuda(cudaMemcpyAsync(decode_inputs_.As<void>(), staging, decode_staging_.size(),
                                      cudaMemcpyHostToDevice, stream_),
                      "copy the decode step's inputs");
}

Status CudaModel::RunDecodeStep(Sequence& sequence) {
  if (options_.decode_graphs) {
    if (sequence.graph != nullptr && sequence.graph_generation != scratch_generation_) {
      cudaGraphExecDestroy(sequence.graph);
      sequence.graph = nullptr;
    }
    // Captured only after an eager step: the launchers' one-time setup (occupancy queries, shared
    // memory opt-ins) then happens outside the capture.
    if (sequence.graph == nullptr && decode_warm_ && decode_stats_.graph_error.empty()) CaptureDecodeGraph(sequence);
    if (sequence.graph != nullptr) {
      ++decode_stats_.graph_replays;
      return Status::Cuda(cudaGraphLaunch(sequence.graph, stream_), "cudaGraphLaunch(decode step)");
    }
  }
  DUO_RETURN_IF_ERROR(LaunchDecodeKernels(sequence));
  decode_warm_ = true;
  ++decode_stats_.eager_steps;
  return Status::Ok();
}

void CudaModel::CaptureDecodeGraph(Sequence& sequence) {
  const auto give_up = [&](const std::string& why) {
    decode_stats_.graph_error = why;
    cudaGetLastError();  // capture errors are not sticky; clear them so eager launches report their own
    std::fprintf(stderr, "[duo-attn/kernels-cuda] CUDA graph capture failed, decoding without graphs: %s\n",
                 why.c_str());
  };
  cudaError_t error = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  if (error != cudaSuccess) return give_up(std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(error));
  const Status launched = LaunchDecodeKernels(sequence);
  cudaGraph_t graph = nullptr;
  error = cudaStreamEndCapture(stream_, &graph);  // always: the stream must leave capture mode
  if (!launched.ok() || error != cudaSuccess || graph == nullptr) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    return give_up(!launched.ok() ? launched.message()
                                  : std::string("cudaStreamEndCapture: ") + cudaGetErrorString(error));
  }
  cudaGraphExec_t exec = nullptr;
  error = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (error != cudaSuccess) return give_up(std::string("cudaGraphInstantiate: ") + cudaGetErrorString(error));
  sequence.graph = exec;
  sequence.graph_generation = scratch_generation_;
  ++decode_stats_.graph_captures;
}

void CudaModel::DropDecodeGraphs() {
  for (Sequence& sequence : sequences_) {
    if (sequence.graph != nullptr) cudaGraphExecDestroy(sequence.graph);
    sequence.graph = nullptr;
  }
}

Status CudaModel::SetDecodeOptions(bool decode_graphs, bool fused_decode) {
  std::lock_guard<std::mutex> lock(mutex_);
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(decode options)"));
  DropDecodeGraphs();
  options_.decode_graphs = decode_graphs;
  options_.fused_decode = fused_decode;
  decode_warm_ = false;
  decode_stats_.graph_error.clear();
  return Status::Ok();
}

DecodeStats CudaModel::decode_stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return decode_stats_;
}

Status CudaModel::LaunchDecodeKernels(Sequence& sequence) {
  const ModelShape& s = shape_;
  const int d = s.head_dim;
  const int half = d / 2;
  const int window = policy_.sink + policy_.recent;
  const bool fused = options_.fused_decode && fused_supported_;
  unsigned char* inputs = decode_inputs_.As<unsigned char>();
  const DecodeLengths* lengths = reinterpret_cast<const DecodeLengths*>(inputs);
  const int32_t* id = reinterpret_cast<const int32_t*>(inputs + kDecodeIdOffset);
  const float* cos = reinterpret_cast<const float*>(inputs + kDecodeCosOffset);
  const float* sin = cos + half;
  // Fused: the qkv GEMV reads residual (+ delta) and writes residual_alt; the gate|up GEMV reads
  // residual_alt + delta and writes residual back (they may not update one row in place: every CTA reads it).
  float* residual = residual_.As<float>();
  float* residual_alt = residual_alt_.As<float>();
  __nv_bfloat16* normed = normed_.As<__nv_bfloat16>();
  float* qkv32 = qkv32_.As<float>();
  __nv_bfloat16* qkv = qkv_.As<__nv_bfloat16>();
  __nv_bfloat16* attention = attention_.As<__nv_bfloat16>();
  float* delta = delta_.As<float>();
  float* gate_up = gate_up_.As<float>();
  __nv_bfloat16* activation = activation_.As<__nv_bfloat16>();
  const __nv_bfloat16* head = s.tied_embeddings ? embed_.As<__nv_bfloat16>() : lm_head_.As<__nv_bfloat16>();
  float* logits = logits_.As<float>();

  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchEmbeddingF32(embed_.As<__nv_bfloat16>(), id, 1, s.hidden, residual, stream_),
                                   "embedding kernel"));
  if (!fused) {
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual, nullptr, layers_[0].input_norm.As<__nv_bfloat16>(),
                                                           1, s.hidden, s.rms_eps, normed, stream_),
                                     "rms_norm kernel"));
  }
  for (int l = 0; l < s.num_layers; ++l) {
    const LayerWeights& w = layers_[l];
    const LayerCache& cache = sequence.layers[l];
    const int fr = RetrievalHeads(l);
    if (fused) {
      GemvNormPrologue norm;
      norm.residual = residual;
      norm.delta = l == 0 ? nullptr : delta;  // the previous layer's down projection
      norm.residual_out = residual_alt;
      norm.weight = w.input_norm.As<__nv_bfloat16>();
      norm.eps = s.rms_eps;
      DUO_RETURN_IF_ERROR(Status::Cuda(
          LaunchGemvNormF32(norm, w.qkv.As<__nv_bfloat16>(), qkv32, QkvWidth(), s.hidden, stream_),
          "norm + q|k|v GEMV kernel (" + Layer(l) + ")"));
    } else {
      DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.qkv.As<__nv_bfloat16>(), qkv32, GemmOutput::kF32, 1, QkvWidth(),
                                     s.hidden, stream_));
    }
    DUO_RETURN_IF_ERROR(Status::Cuda(
        LaunchRopeF32(qkv32, 1, s.num_q_heads, s.num_kv_heads, d, cos, sin, qkv, stream_),
        "rope kernel (" + Layer(l) + ")"));
    DecodeAttentionArgs args{};
    // Upper bounds for the lengths: the real ones come from `lengths` in device memory.
    DescribeAttention(args, cache, l, qkv, attention, options_.max_tokens - 1, window);
    args.device_lengths = lengths;
    if (fused) {
      args.append.enabled = true;
      args.append.retrieval_k = cache.retrieval_k;
      args.append.retrieval_v = cache.retrieval_v;
      args.append.streaming_k = cache.streaming_k;
      args.append.streaming_v = cache.streaming_v;
      args.append.sink = policy_.sink;
      args.append.recent = policy_.recent;
    }
    DUO_RETURN_IF_ERROR(Status::Cuda(
        LaunchDecodeAttention(args, decode_workspace_.As<void>(), decode_workspace_bytes_, num_sms_, stream_),
        "decode attention kernel (" + Layer(l) + ")"));
    if (!fused) {
      DUO_RETURN_IF_ERROR(Status::Cuda(LaunchKvAppendAt(qkv, lengths, s.num_q_heads, s.num_kv_heads, fr, d,
                                                        cache.retrieval_k, cache.retrieval_v, cache.streaming_k,
                                                        cache.streaming_v, policy_.sink, policy_.recent, stream_),
                                       "kv_append kernel (" + Layer(l) + ")"));
    }
    DUO_RETURN_IF_ERROR(gemm_->Run(attention, w.o.As<__nv_bfloat16>(), delta, GemmOutput::kF32, 1, s.hidden,
                                   s.num_q_heads * d, stream_));
    if (fused) {
      GemvNormPrologue norm;
      norm.residual = residual_alt;
      norm.delta = delta;  // o_proj
      norm.residual_out = residual;
      norm.weight = w.post_norm.As<__nv_bfloat16>();
      norm.eps = s.rms_eps;
      DUO_RETURN_IF_ERROR(Status::Cuda(
          LaunchGemvNormSwiGlu(norm, w.gate_up.As<__nv_bfloat16>(), activation, s.intermediate, s.hidden, stream_),
          "norm + gate|up GEMV + SwiGLU kernel (" + Layer(l) + ")"));
    } else {
      DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual, delta, w.post_norm.As<__nv_bfloat16>(), 1,
                                                             s.hidden, s.rms_eps, normed, stream_),
                                       "residual + rms_norm kernel (" + Layer(l) + ")"));
      DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.gate_up.As<__nv_bfloat16>(), gate_up, GemmOutput::kF32, 1,
                                     2 * s.intermediate, s.hidden, stream_));
      DUO_RETURN_IF_ERROR(Status::Cuda(LaunchSwiGluF32(gate_up, 1, s.intermediate, activation, stream_),
                                       "swiglu kernel (" + Layer(l) + ")"));
    }
    DUO_RETURN_IF_ERROR(gemm_->Run(activation, w.down.As<__nv_bfloat16>(), delta, GemmOutput::kF32, 1, s.hidden,
                                   s.intermediate, stream_));
    if (!fused) {
      const __nv_bfloat16* next_norm = l + 1 < s.num_layers ? layers_[l + 1].input_norm.As<__nv_bfloat16>()
                                                            : final_norm_.As<__nv_bfloat16>();
      DUO_RETURN_IF_ERROR(Status::Cuda(
          LaunchResidualRmsNorm(residual, delta, next_norm, 1, s.hidden, s.rms_eps, normed, stream_),
          "residual + rms_norm kernel (" + Layer(l) + ")"));
    }
  }
  if (fused) {
    GemvNormPrologue norm;
    norm.residual = residual;
    norm.delta = delta;  // the last layer's down projection
    norm.weight = final_norm_.As<__nv_bfloat16>();
    norm.eps = s.rms_eps;
    return Status::Cuda(LaunchGemvNormF32(norm, head, logits, s.vocab, s.hidden, stream_),
                        "final norm + lm_head GEMV kernel");
  }
  return gemm_->Run(normed, head, logits, GemmOutput::kF32, 1, s.vocab, s.hidden, stream_);
}

Status CudaModel::FillSyntheticCache(int sequence_index, int length, uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  DUO_RETURN_IF_ERROR(CheckSequence(sequence_index, "fillSyntheticCache"));
  if (length < 0 || length > options_.max_tokens) {
    return Status::Error("fillSyntheticCache: length " + std::to_string(length) + " must be in [0, " +
                         std::to_string(options_.max_tokens) + "]");
  }
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  Sequence& sequence = sequences_[sequence_index];
  // Keys/values of magnitude ~1 like real post-RoPE states; every slot written, used or not.
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchFillRandomBf16(sequence.retrieval.As<__nv_bfloat16>(),
                                                        sequence.retrieval.bytes() / kBf16, seed * 2 + 1, 1.0f, 0.0f,
                                                        stream_),
                                   "fill_random kernel (retrieval cache)"));
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchFillRandomBf16(sequence.streaming.As<__nv_bfloat16>(),
                                                        sequence.streaming.bytes() / kBf16, seed * 2 + 2, 1.0f, 0.0f,
                                                        stream_),
                                   "fill_random kernel (streaming cache)"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(synthetic cache)"));
  sequence.length = length;
  sequence.broken.clear();
  UpdateSnapshot();
  return Status::Ok();
}

ModelMemory CudaModel::Memory() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return memory_snapshot_;
}

void CudaModel::UpdateSnapshot() {
  ModelMemory memory;
  memory.weight_bytes = embed_.bytes() + final_norm_.bytes() + lm_head_.bytes();
  for (const LayerWeights& w : layers_) {
    memory.weight_bytes +=
        w.input_norm.bytes() + w.qkv.bytes() + w.o.bytes() + w.post_norm.bytes() + w.gate_up.bytes() + w.down.bytes();
  }
  for (const Sequence& sequence : sequences_) {
    memory.retrieval_cache_bytes += sequence.retrieval.bytes();
    memory.streaming_cache_bytes += sequence.streaming.bytes();
  }
  memory.scratch_bytes = residual_.bytes() + normed_.bytes() + delta_.bytes() + qkv32_.bytes() + qkv_.bytes() + attention_.bytes() +
                         gate_up_.bytes() + activation_.bytes() + logits_.bytes() + ids_.bytes() + cos_.bytes() +
                         sin_.bytes() + decode_workspace_.bytes() + sample_id_.bytes() + sample_workspace_.bytes() +
                         sample_previous_.bytes() + decode_inputs_.bytes() + residual_alt_.bytes();
  std::lock_guard<std::mutex> lock(stats_mutex_);
  memory_snapshot_ = memory;
}

}  // namespace duo
