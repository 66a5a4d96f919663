// GateTrainerModel: one training step of DuoAttention's gates (gate_trainer.h).
//
// Per step: the teacher runs the whole sample with full attention (CudaModel's kernels; its
// attention outputs F_l and its last residual are kept), the student runs with each layer's
// streaming attention mixed with F_l by the gates (its layer inputs are kept), the loss compares
// both final norms on the label rows, and the backward pass walks the layers from the top: it
// recomputes the layer's forward from the kept input, then backpropagates through the MLP, o_proj,
// the mix (where the gates' gradient is summed), streaming attention, RoPE and q|k|v.
#include "host/gate_trainer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/fill_random.cuh"
#include "kernels/fp32_activations.cuh"
#include "kernels/prefill_attention.cuh"
#include "kernels/training_ops.cuh"

namespace duo {
namespace {

constexpr std::size_t kBf16 = sizeof(__nv_bfloat16);
constexpr std::size_t kF32 = sizeof(float);

std::string Layer(int layer) { return "layer " + std::to_string(layer); }
Status UseDevice(int device) { return Status::Cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")"); }

}  // namespace

GateTrainerModel::GateTrainerModel(const ModelShape& shape, const GateTrainerOptions& options)
    : shape_(shape), options_(options) {}

GateTrainerModel::~GateTrainerModel() {
  cudaSetDevice(options_.device);
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  for (cudaEvent_t event : events_) {
    if (event != nullptr) cudaEventDestroy(event);
  }
}

Status GateTrainerModel::Create(const ModelShape& shape, const GateTrainerOptions& options,
                                std::unique_ptr<GateTrainerModel>* out) {
  const auto positive = [](int value) { return value > 0; };
  if (!positive(shape.num_layers) || !positive(shape.hidden) || !positive(shape.num_q_heads) ||
      !positive(shape.num_kv_heads) || !positive(shape.intermediate) || !positive(shape.vocab)) {
    return Status::Error("gate trainer: the model shape has a non-positive dimension");
  }
  if (shape.num_q_heads % shape.num_kv_heads != 0) {
    return Status::Error("gate trainer: num_q_heads (" + std::to_string(shape.num_q_heads) +
                         ") is not a multiple of num_kv_heads (" + std::to_string(shape.num_kv_heads) + ")");
  }
  if (shape.head_dim != 16 && shape.head_dim != 32 && shape.head_dim != 64 && shape.head_dim != 128) {
    return Status::Error("gate trainer: head_dim " + std::to_string(shape.head_dim) +
                         " is not supported (16, 32, 64 or 128)");
  }
  if (shape.hidden % 8 != 0 || shape.intermediate % 8 != 0) {
    return Status::Error("gate trainer: hidden and intermediate sizes must be multiples of 8");
  }
  const TrainingMask& m = options.mask;
  if (m.kind != 0 && m.kind != 1) return Status::Error("gate trainer: mask kind must be 0 (token) or 1 (block)");
  if (m.sink < 0 || m.recent < 1 || (m.kind == 1 && m.block < 1)) {
    return Status::Error("gate trainer: the mask needs sink >= 0, recent >= 1 and block >= 1");
  }
  if (options.max_tokens < 1) return Status::Error("gate trainer: max_tokens must be >= 1");
  int device_count = 0;
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaGetDeviceCount(&device_count), "cudaGetDeviceCount"));
  if (options.device < 0 || options.device >= device_count) {
    return Status::Error("device index " + std::to_string(options.device) + " is out of range: this machine has " +
                         std::to_string(device_count) + " CUDA device(s)");
  }
  std::unique_ptr<GateTrainerModel> model(new GateTrainerModel(shape, options));
  DUO_RETURN_IF_ERROR(UseDevice(options.device));
  DUO_RETURN_IF_ERROR(
      Status::Cuda(cudaStreamCreateWithFlags(&model->stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
  for (cudaEvent_t& event : model->events_) {
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventCreate(&event), "cudaEventCreate"));
  }
  DUO_RETURN_IF_ERROR(Gemm::Create(&model->gemm_));
  if (!model->gemm_->cublaslt_available()) {
    return Status::Error("gate training needs cuBLASLt: " + model->gemm_->cublaslt_error());
  }
  DUO_RETURN_IF_ERROR(model->Allocate());
  *out = std::move(model);
  return Status::Ok();
}

Status GateTrainerModel::Allocate() {
  const ModelShape& s = shape_;
  const std::size_t h = s.hidden;
  const std::size_t t = options_.max_tokens;
  const std::size_t layers = s.num_layers;
  const std::size_t qkv = QkvWidth();
  const std::size_t width = AttentionWidth();
  const std::size_t m = s.intermediate;
  const std::size_t kv = static_cast<std::size_t>(s.num_kv_heads) * s.head_dim;
  const std::string rows = " (" + std::to_string(t) + " tokens)";
  DUO_RETURN_IF_ERROR(embed_.Allocate(static_cast<std::size_t>(s.vocab) * h * kBf16, "embed_tokens"));
  DUO_RETURN_IF_ERROR(final_norm_.Allocate(h * kBf16, "the final norm"));
  layers_.resize(s.num_layers);
  for (int l = 0; l < s.num_layers; ++l) {
    LayerWeights& w = layers_[l];
    const std::string at = " of " + Layer(l);
    DUO_RETURN_IF_ERROR(w.input_norm.Allocate(h * kBf16, "input_layernorm" + at));
    DUO_RETURN_IF_ERROR(w.qkv.Allocate(qkv * h * kBf16, "q|k|v_proj" + at));
    DUO_RETURN_IF_ERROR(w.o.Allocate(h * width * kBf16, "o_proj" + at));
    DUO_RETURN_IF_ERROR(w.post_norm.Allocate(h * kBf16, "post_attention_layernorm" + at));
    DUO_RETURN_IF_ERROR(w.gate_up.Allocate(2 * m * h * kBf16, "gate|up_proj" + at));
    DUO_RETURN_IF_ERROR(w.down.Allocate(h * m * kBf16, "down_proj" + at));
  }
  DUO_RETURN_IF_ERROR(layer_inputs_.Allocate(layers * t * h * kF32, "the student's layer inputs" + rows));
  DUO_RETURN_IF_ERROR(teacher_attention_.Allocate(layers * t * width * kBf16, "the teacher's attention outputs" + rows));
  DUO_RETURN_IF_ERROR(teacher_final_.Allocate(t * h * kF32, "the teacher's last residual" + rows));
  DUO_RETURN_IF_ERROR(residual_.Allocate(t * h * kF32, "the residual stream" + rows));
  DUO_RETURN_IF_ERROR(mid_.Allocate(t * h * kF32, "the mid-layer residual" + rows));
  DUO_RETURN_IF_ERROR(normed_.Allocate(t * h * kBf16, "normalised activations" + rows));
  DUO_RETURN_IF_ERROR(delta_.Allocate(t * h * kF32, "layer outputs" + rows));
  DUO_RETURN_IF_ERROR(qkv32_.Allocate(t * qkv * kF32, "q|k|v projections" + rows));
  DUO_RETURN_IF_ERROR(qkv_.Allocate(t * qkv * kBf16, "q|k|v activations" + rows));
  DUO_RETURN_IF_ERROR(streaming_.Allocate(t * width * kBf16, "streaming attention outputs" + rows));
  DUO_RETURN_IF_ERROR(mixed_.Allocate(t * width * kBf16, "mixed attention outputs" + rows));
  DUO_RETURN_IF_ERROR(lse_.Allocate(t * s.num_q_heads * kF32, "attention log-sum-exps" + rows));
  DUO_RETURN_IF_ERROR(gate_up_.Allocate(t * 2 * m * kBf16, "gate|up activations" + rows));
  DUO_RETURN_IF_ERROR(activation_.Allocate(t * m * kBf16, "MLP activations" + rows));
  DUO_RETURN_IF_ERROR(d_residual_.Allocate(t * h * kF32, "residual gradients" + rows));
  DUO_RETURN_IF_ERROR(d_mid_.Allocate(t * h * kF32, "mid-layer gradients" + rows));
  DUO_RETURN_IF_ERROR(d_bf16_.Allocate(t * std::max(h, width) * kBf16, "bf16 gradients" + rows));
  DUO_RETURN_IF_ERROR(d_act_.Allocate(t * m * kF32, "MLP activation gradients" + rows));
  DUO_RETURN_IF_ERROR(d_gate_up_.Allocate(t * 2 * m * kBf16, "gate|up gradients" + rows));
  DUO_RETURN_IF_ERROR(d_normed_.Allocate(t * h * kF32, "norm output gradients" + rows));
  DUO_RETURN_IF_ERROR(d_mixed_.Allocate(t * width * kF32, "mixed attention gradients" + rows));
  DUO_RETURN_IF_ERROR(d_streaming_.Allocate(t * width * kBf16, "streaming attention gradients" + rows));
  DUO_RETURN_IF_ERROR(delta_rows_.Allocate(t * s.num_q_heads * kF32, "attention backward deltas" + rows));
  DUO_RETURN_IF_ERROR(dq_.Allocate(t * width * kF32, "query gradients" + rows));
  DUO_RETURN_IF_ERROR(dk_.Allocate(t * kv * kF32, "key gradients" + rows));
  DUO_RETURN_IF_ERROR(dv_.Allocate(t * kv * kF32, "value gradients" + rows));
  DUO_RETURN_IF_ERROR(d_qkv_.Allocate(t * qkv * kBf16, "q|k|v gradients" + rows));
  DUO_RETURN_IF_ERROR(ids_.Allocate(t * sizeof(int32_t), "token ids" + rows));
  DUO_RETURN_IF_ERROR(cos_.Allocate(t * (s.head_dim / 2) * kF32, "RoPE cos" + rows));
  DUO_RETURN_IF_ERROR(sin_.Allocate(t * (s.head_dim / 2) * kF32, "RoPE sin" + rows));
  DUO_RETURN_IF_ERROR(labels_.Allocate(t, "label flags" + rows));
  DUO_RETURN_IF_ERROR(gates_.Allocate(layers * s.num_kv_heads * kF32, "gates"));
  DUO_RETURN_IF_ERROR(gradient_.Allocate(layers * s.num_kv_heads * sizeof(double), "the gates' gradient"));
  DUO_RETURN_IF_ERROR(loss_.Allocate(sizeof(double), "the loss"));
  // Stored activations last, so that kAuto sees what everything else already took.
  const std::size_t qkv_bytes = layers * t * qkv * kBf16;
  const std::size_t gate_up_bytes = layers * t * 2 * m * kBf16;
  const std::size_t streaming_bytes = layers * t * width * kBf16;
  const std::size_t lse_bytes = layers * t * s.num_q_heads * kF32;
  bool store = options_.activations == ActivationMemory::kStore;
  if (options_.activations == ActivationMemory::kAuto) {
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"));
    const std::size_t margin = std::size_t{4} << 30;  // cuBLASLt, the context, fragmentation
    store = free_bytes > qkv_bytes + gate_up_bytes + streaming_bytes + lse_bytes + margin;
  }
  if (store) {
    DUO_RETURN_IF_ERROR(stored_qkv_.Allocate(qkv_bytes, "every layer's q|k|v" + rows));
    DUO_RETURN_IF_ERROR(stored_gate_up_.Allocate(gate_up_bytes, "every layer's gate|up" + rows));
    DUO_RETURN_IF_ERROR(stored_streaming_.Allocate(streaming_bytes, "every layer's streaming attention" + rows));
    DUO_RETURN_IF_ERROR(stored_lse_.Allocate(lse_bytes, "every layer's log-sum-exps" + rows));
  }
  store_activations_ = store;
  return Status::Ok();
}

__nv_bfloat16* GateTrainerModel::QkvOf(int l) const {
  if (!store_activations_) return qkv_.As<__nv_bfloat16>();
  return stored_qkv_.As<__nv_bfloat16>() + static_cast<std::size_t>(l) * options_.max_tokens * QkvWidth();
}

__nv_bfloat16* GateTrainerModel::StreamingOf(int l) const {
  if (!store_activations_) return streaming_.As<__nv_bfloat16>();
  return stored_streaming_.As<__nv_bfloat16>() + static_cast<std::size_t>(l) * options_.max_tokens * AttentionWidth();
}

float* GateTrainerModel::LseOf(int l) const {
  if (!store_activations_) return lse_.As<float>();
  return stored_lse_.As<float>() + static_cast<std::size_t>(l) * options_.max_tokens * shape_.num_q_heads;
}

__nv_bfloat16* GateTrainerModel::GateUpOf(int l) const {
  if (!store_activations_) return gate_up_.As<__nv_bfloat16>();
  return stored_gate_up_.As<__nv_bfloat16>() + static_cast<std::size_t>(l) * options_.max_tokens * 2 * shape_.intermediate;
}

Status GateTrainerModel::UploadWeight(WeightKind kind, int layer, const uint16_t* data, std::size_t count) {
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
    case WeightKind::kLmHead: return Status::Error("weight upload: gate training does not use lm_head");
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

Status GateTrainerModel::FillRandomWeights(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  uint64_t stream_seed = seed * 1000003ull;
  const auto fill = [&](DeviceAllocation& a, float scale, float offset) {
    return Status::Cuda(
        LaunchFillRandomBf16(a.As<__nv_bfloat16>(), a.bytes() / kBf16, ++stream_seed, scale, offset, stream_),
        "fill_random kernel");
  };
  DUO_RETURN_IF_ERROR(fill(embed_, 0.02f, 0.0f));
  DUO_RETURN_IF_ERROR(fill(final_norm_, 0.02f, 1.0f));
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

Status GateTrainerModel::Teacher(int tokens) {
  const ModelShape& s = shape_;
  const int width = AttentionWidth();
  float* residual = residual_.As<float>();
  __nv_bfloat16* normed = normed_.As<__nv_bfloat16>();
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchEmbeddingF32(embed_.As<__nv_bfloat16>(), ids_.As<int32_t>(), tokens, s.hidden,
                                                      residual, stream_),
                                   "embedding kernel (teacher)"));
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual, nullptr, layers_[0].input_norm.As<__nv_bfloat16>(),
                                                         tokens, s.hidden, s.rms_eps, normed, stream_),
                                   "rms_norm kernel (teacher)"));
  for (int l = 0; l < s.num_layers; ++l) {
    const LayerWeights& w = layers_[l];
    __nv_bfloat16* full = teacher_attention_.As<__nv_bfloat16>() + static_cast<std::size_t>(l) * options_.max_tokens * width;
    DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.qkv.As<__nv_bfloat16>(), qkv32_.As<float>(), GemmOutput::kF32, tokens,
                                   QkvWidth(), s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchRopeF32(qkv32_.As<float>(), tokens, s.num_q_heads, s.num_kv_heads, s.head_dim,
                                                   cos_.As<float>(), sin_.As<float>(), qkv_.As<__nv_bfloat16>(), stream_),
                                     "rope kernel (teacher, " + Layer(l) + ")"));
    // Every head a retrieval head over an empty cache: exact causal attention over the sample.
    PrefillAttentionArgs args{};
    args.qkv = qkv_.As<__nv_bfloat16>();
    args.tokens = tokens;
    args.num_q_heads = s.num_q_heads;
    args.num_kv_heads = s.num_kv_heads;
    args.num_retrieval_kv_heads = s.num_kv_heads;
    args.head_dim = s.head_dim;
    args.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    args.out = full;
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchPrefillAttention(args, stream_), "full attention (teacher, " + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(full, w.o.As<__nv_bfloat16>(), delta_.As<float>(), GemmOutput::kF32, tokens, s.hidden,
                                   width, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual, delta_.As<float>(), w.post_norm.As<__nv_bfloat16>(),
                                                           tokens, s.hidden, s.rms_eps, normed, stream_),
                                     "residual + rms_norm kernel (teacher, " + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.gate_up.As<__nv_bfloat16>(), gate_up_.As<__nv_bfloat16>(),
                                   GemmOutput::kBf16, tokens, 2 * s.intermediate, s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchSwiGluForward(gate_up_.As<__nv_bfloat16>(), tokens, s.intermediate,
                                                         activation_.As<__nv_bfloat16>(), stream_),
                                     "swiglu kernel (teacher, " + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(activation_.As<__nv_bfloat16>(), w.down.As<__nv_bfloat16>(), delta_.As<float>(),
                                   GemmOutput::kF32, tokens, s.hidden, s.intermediate, stream_));
    const __nv_bfloat16* next_norm =
        l + 1 < s.num_layers ? layers_[l + 1].input_norm.As<__nv_bfloat16>() : final_norm_.As<__nv_bfloat16>();
    DUO_RETURN_IF_ERROR(Status::Cuda(
        LaunchResidualRmsNorm(residual, delta_.As<float>(), next_norm, tokens, s.hidden, s.rms_eps, normed, stream_),
        "residual + rms_norm kernel (teacher, " + Layer(l) + ")"));
  }
  return Status::Cuda(cudaMemcpyAsync(teacher_final_.As<void>(), residual, static_cast<std::size_t>(tokens) * s.hidden * kF32,
                                      cudaMemcpyDeviceToDevice, stream_),
                      "copy the teacher's last residual");
}

Status GateTrainerModel::StudentLayerUpToMlp(int l, int tokens, TrainingAttentionArgs attention, bool projections) {
  const ModelShape& s = shape_;
  const LayerWeights& w = layers_[l];
  const int width = AttentionWidth();
  const std::size_t rows = static_cast<std::size_t>(tokens) * s.hidden;
  __nv_bfloat16* normed = normed_.As<__nv_bfloat16>();
  __nv_bfloat16* qkv = QkvOf(l);
  const __nv_bfloat16* full =
      teacher_attention_.As<__nv_bfloat16>() + static_cast<std::size_t>(l) * options_.max_tokens * width;
  if (projections) {
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(residual_.As<float>(), nullptr, w.input_norm.As<__nv_bfloat16>(),
                                                           tokens, s.hidden, s.rms_eps, normed, stream_),
                                     "rms_norm kernel (student, " + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(normed, w.qkv.As<__nv_bfloat16>(), qkv32_.As<float>(), GemmOutput::kF32, tokens,
                                   QkvWidth(), s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchRopeF32(qkv32_.As<float>(), tokens, s.num_q_heads, s.num_kv_heads, s.head_dim,
                                                   cos_.As<float>(), sin_.As<float>(), qkv, stream_),
                                     "rope kernel (student, " + Layer(l) + ")"));
  }
  attention.qkv = qkv;
  if (projections) {
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchTrainingAttentionForward(attention, StreamingOf(l), LseOf(l), stream_),
                                     "streaming attention (student, " + Layer(l) + ")"));
  }
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchGateMix(full, StreamingOf(l), gates_.As<float>() + l * s.num_kv_heads,
                                                 tokens, s.num_q_heads, s.num_kv_heads, s.head_dim,
                                                 mixed_.As<__nv_bfloat16>(), stream_),
                                   "gate mix (" + Layer(l) + ")"));
  DUO_RETURN_IF_ERROR(gemm_->Run(mixed_.As<__nv_bfloat16>(), w.o.As<__nv_bfloat16>(), delta_.As<float>(), GemmOutput::kF32,
                                 tokens, s.hidden, width, stream_));
  // mid = input + attention block, normed = its post-attention norm.
  DUO_RETURN_IF_ERROR(Status::Cuda(
      cudaMemcpyAsync(mid_.As<void>(), residual_.As<void>(), rows * kF32, cudaMemcpyDeviceToDevice, stream_), "copy mid"));
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(mid_.As<float>(), delta_.As<float>(), w.post_norm.As<__nv_bfloat16>(),
                                                         tokens, s.hidden, s.rms_eps, normed, stream_),
                                   "residual + rms_norm kernel (student, " + Layer(l) + ")"));
  if (!projections) return Status::Ok();
  return gemm_->Run(normed, w.gate_up.As<__nv_bfloat16>(), GateUpOf(l), GemmOutput::kBf16, tokens, 2 * s.intermediate,
                    s.hidden, stream_);
}

Status GateTrainerModel::Student(int tokens, const TrainingAttentionArgs& attention) {
  const ModelShape& s = shape_;
  const std::size_t rows = static_cast<std::size_t>(tokens) * s.hidden;
  float* residual = residual_.As<float>();
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchEmbeddingF32(embed_.As<__nv_bfloat16>(), ids_.As<int32_t>(), tokens, s.hidden,
                                                      residual, stream_),
                                   "embedding kernel (student)"));
  for (int l = 0; l < s.num_layers; ++l) {
    const LayerWeights& w = layers_[l];
    float* input = layer_inputs_.As<float>() + static_cast<std::size_t>(l) * options_.max_tokens * s.hidden;
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemcpyAsync(input, residual, rows * kF32, cudaMemcpyDeviceToDevice, stream_),
                                     "keep the layer input"));
    DUO_RETURN_IF_ERROR(StudentLayerUpToMlp(l, tokens, attention, true));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchSwiGluForward(GateUpOf(l), tokens, s.intermediate,
                                                         activation_.As<__nv_bfloat16>(), stream_),
                                     "swiglu kernel (student, " + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->Run(activation_.As<__nv_bfloat16>(), w.down.As<__nv_bfloat16>(), delta_.As<float>(),
                                   GemmOutput::kF32, tokens, s.hidden, s.intermediate, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchResidualRmsNorm(mid_.As<float>(), delta_.As<float>(), w.post_norm.As<__nv_bfloat16>(),
                                                           tokens, s.hidden, s.rms_eps, normed_.As<__nv_bfloat16>(), stream_),
                                     "residual add (student, " + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemcpyAsync(residual, mid_.As<void>(), rows * kF32, cudaMemcpyDeviceToDevice, stream_),
                                     "advance the residual"));
  }
  return Status::Ok();
}

Status GateTrainerModel::Backward(int tokens, const TrainingAttentionArgs& attention, int num_items) {
  const ModelShape& s = shape_;
  const int width = AttentionWidth();
  const std::size_t rows = static_cast<std::size_t>(tokens) * s.hidden;
  __nv_bfloat16* d_bf16 = d_bf16_.As<__nv_bfloat16>();
  for (int l = s.num_layers - 1; l >= 0; --l) {
    const LayerWeights& w = layers_[l];
    const float* input = layer_inputs_.As<float>() + static_cast<std::size_t>(l) * options_.max_tokens * s.hidden;
    const __nv_bfloat16* full =
        teacher_attention_.As<__nv_bfloat16>() + static_cast<std::size_t>(l) * options_.max_tokens * width;
    // Recompute the layer from its input (only the mix and o_proj when activations are kept).
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemcpyAsync(residual_.As<void>(), input, rows * kF32, cudaMemcpyDeviceToDevice, stream_),
                                     "restore the layer input"));
    DUO_RETURN_IF_ERROR(StudentLayerUpToMlp(l, tokens, attention, !store_activations_));
    TrainingAttentionArgs layer_attention = attention;
    layer_attention.qkv = QkvOf(l);
    // MLP: out = mid + down(silu(gate) * up); d_residual holds d(out).
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchF32ToBf16(d_residual_.As<float>(), rows, d_bf16, stream_), "bf16 gradient"));
    DUO_RETURN_IF_ERROR(gemm_->RunNN(d_bf16, w.down.As<__nv_bfloat16>(), d_act_.As<float>(), GemmOutput::kF32, tokens,
                                     s.intermediate, s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchSwiGluBackward(GateUpOf(l), d_act_.As<float>(), tokens, s.intermediate,
                                                          d_gate_up_.As<__nv_bfloat16>(), stream_),
                                     "swiglu backward (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->RunNN(d_gate_up_.As<__nv_bfloat16>(), w.gate_up.As<__nv_bfloat16>(), d_normed_.As<float>(),
                                     GemmOutput::kF32, tokens, s.hidden, 2 * s.intermediate, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchRmsNormBackward(d_normed_.As<float>(), mid_.As<float>(),
                                                           w.post_norm.As<__nv_bfloat16>(), d_residual_.As<float>(),
                                                           tokens, s.hidden, s.rms_eps, d_mid_.As<float>(), stream_),
                                     "rms_norm backward (post-attention, " + Layer(l) + ")"));
    // Attention block: mid = input + o_proj(mix).
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchF32ToBf16(d_mid_.As<float>(), rows, d_bf16, stream_), "bf16 gradient"));
    DUO_RETURN_IF_ERROR(gemm_->RunNN(d_bf16, w.o.As<__nv_bfloat16>(), d_mixed_.As<float>(), GemmOutput::kF32, tokens,
                                     width, s.hidden, stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchGateMixBackward(d_mixed_.As<float>(), full, StreamingOf(l),
                                                           gates_.As<float>() + l * s.num_kv_heads, tokens, s.num_q_heads,
                                                           s.num_kv_heads, s.head_dim, d_streaming_.As<__nv_bfloat16>(),
                                                           gradient_.As<double>() + l * s.num_kv_heads, stream_),
                                     "gate mix backward (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(Status::Cuda(
        LaunchTrainingAttentionBackward(layer_attention, StreamingOf(l), LseOf(l),
                                        d_streaming_.As<__nv_bfloat16>(), delta_rows_.As<float>(), dq_.As<float>(),
                                        dk_.As<float>(), dv_.As<float>(), items_.As<TrainingAttentionWorkItem>(),
                                        num_items, stream_),
        "streaming attention backward (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchRopeBackward(dq_.As<float>(), dk_.As<float>(), dv_.As<float>(), cos_.As<float>(),
                                                        sin_.As<float>(), tokens, s.num_q_heads, s.num_kv_heads,
                                                        s.head_dim, d_qkv_.As<__nv_bfloat16>(), stream_),
                                     "rope backward (" + Layer(l) + ")"));
    DUO_RETURN_IF_ERROR(gemm_->RunNN(d_qkv_.As<__nv_bfloat16>(), w.qkv.As<__nv_bfloat16>(), d_normed_.As<float>(),
                                     GemmOutput::kF32, tokens, s.hidden, QkvWidth(), stream_));
    DUO_RETURN_IF_ERROR(Status::Cuda(LaunchRmsNormBackward(d_normed_.As<float>(), input, w.input_norm.As<__nv_bfloat16>(),
                                                           d_mid_.As<float>(), tokens, s.hidden, s.rms_eps,
                                                           d_residual_.As<float>(), stream_),
                                     "rms_norm backward (input, " + Layer(l) + ")"));
  }
  return Status::Ok();
}

Status GateTrainerModel::Step(const int32_t* ids, int tokens, const float* cos, const float* sin, const int32_t* labels,
                              int num_labels, const float* gates, double* loss, double* gradient,
                              GateTrainerTimings* timings) {
  std::lock_guard<std::mutex> lock(mutex_);
  const ModelShape& s = shape_;
  const auto bad = [](const std::string& what) { return Status::Error("gate training step: " + what); };
  if (tokens < 1 || tokens > options_.max_tokens) {
    return bad(std::to_string(tokens) + " tokens is outside [1, maxTokens = " + std::to_string(options_.max_tokens) + "]");
  }
  for (int t = 0; t < tokens; ++t) {
    if (ids[t] < 0 || ids[t] >= s.vocab) {
      return bad("token id " + std::to_string(ids[t]) + " at index " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  if (num_labels < 1) return bad("no label positions");
  std::vector<uint8_t> flags(tokens, 0);
  for (int i = 0; i < num_labels; ++i) {
    if (labels[i] < 0 || labels[i] >= tokens || (i > 0 && labels[i] <= labels[i - 1])) {
      return bad("label positions must be ascending positions of the sample");
    }
    flags[labels[i]] = 1;
  }
  const int num_gates = s.num_layers * s.num_kv_heads;
  for (int i = 0; i < num_gates; ++i) {
    if (!std::isfinite(gates[i])) return bad("gate " + std::to_string(i) + " is not finite");
  }
  DUO_RETURN_IF_ERROR(UseDevice(options_.device));
  if (items_tokens_ != tokens) {
    const std::vector<TrainingAttentionWorkItem> items = TrainingAttentionWorkItems(options_.mask, tokens);
    const std::size_t bytes = items.size() * sizeof(TrainingAttentionWorkItem);
    if (items_.bytes() < bytes) DUO_RETURN_IF_ERROR(items_.Allocate(bytes, "the attention backward work list"));
    DUO_RETURN_IF_ERROR(Status::Cuda(
        cudaMemcpyAsync(items_.As<void>(), items.data(), bytes, cudaMemcpyHostToDevice, stream_), "copy the work list"));
    items_tokens_ = tokens;
    num_items_ = static_cast<int>(items.size());
  }
  const std::size_t half = s.head_dim / 2;
  const auto upload = [&](DeviceAllocation& to, const void* from, std::size_t bytes, const char* what) {
    return Status::Cuda(cudaMemcpyAsync(to.As<void>(), from, bytes, cudaMemcpyHostToDevice, stream_), what);
  };
  DUO_RETURN_IF_ERROR(upload(ids_, ids, tokens * sizeof(int32_t), "copy ids"));
  DUO_RETURN_IF_ERROR(upload(cos_, cos, tokens * half * kF32, "copy cos"));
  DUO_RETURN_IF_ERROR(upload(sin_, sin, tokens * half * kF32, "copy sin"));
  DUO_RETURN_IF_ERROR(upload(labels_, flags.data(), tokens, "copy labels"));
  DUO_RETURN_IF_ERROR(upload(gates_, gates, num_gates * kF32, "copy gates"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemsetAsync(gradient_.As<void>(), 0, num_gates * sizeof(double), stream_), "zero gradient"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemsetAsync(loss_.As<void>(), 0, sizeof(double), stream_), "zero loss"));

  TrainingAttentionArgs attention{};
  attention.qkv = qkv_.As<__nv_bfloat16>();
  attention.tokens = tokens;
  attention.num_q_heads = s.num_q_heads;
  attention.num_kv_heads = s.num_kv_heads;
  attention.head_dim = s.head_dim;
  attention.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  attention.mask = options_.mask;

  DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventRecord(events_[0], stream_), "cudaEventRecord"));
  DUO_RETURN_IF_ERROR(Teacher(tokens));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventRecord(events_[1], stream_), "cudaEventRecord"));
  DUO_RETURN_IF_ERROR(Student(tokens, attention));
  DUO_RETURN_IF_ERROR(Status::Cuda(LaunchDistillationLoss(residual_.As<float>(), teacher_final_.As<float>(),
                                                          final_norm_.As<__nv_bfloat16>(), labels_.As<uint8_t>(), num_labels,
                                                          tokens, s.hidden, s.rms_eps, d_residual_.As<float>(),
                                                          loss_.As<double>(), stream_),
                                   "distillation loss"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventRecord(events_[2], stream_), "cudaEventRecord"));
  DUO_RETURN_IF_ERROR(Backward(tokens, attention, num_items_));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventRecord(events_[3], stream_), "cudaEventRecord"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemcpyAsync(gradient, gradient_.As<void>(), num_gates * sizeof(double),
                                                   cudaMemcpyDeviceToHost, stream_),
                                   "copy the gradient"));
  DUO_RETURN_IF_ERROR(
      Status::Cuda(cudaMemcpyAsync(loss, loss_.As<void>(), sizeof(double), cudaMemcpyDeviceToHost, stream_), "copy the loss"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaStreamSynchronize(stream_), "gate training step (cudaStreamSynchronize)"));
  if (timings != nullptr) {
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventElapsedTime(&timings->teacher_ms, events_[0], events_[1]), "cudaEventElapsedTime"));
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventElapsedTime(&timings->student_ms, events_[1], events_[2]), "cudaEventElapsedTime"));
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventElapsedTime(&timings->backward_ms, events_[2], events_[3]), "cudaEventElapsedTime"));
  }
  return Status::Ok();
}

GateTrainerMemory GateTrainerModel::Memory() const {
  GateTrainerMemory memory;
  memory.weight_bytes = embed_.bytes() + final_norm_.bytes();
  for (const LayerWeights& w : layers_) {
    memory.weight_bytes +=
        w.input_norm.bytes() + w.qkv.bytes() + w.o.bytes() + w.post_norm.bytes() + w.gate_up.bytes() + w.down.bytes();
  }
  memory.checkpoint_bytes = layer_inputs_.bytes() + teacher_attention_.bytes() + teacher_final_.bytes() +
                            stored_qkv_.bytes() + stored_gate_up_.bytes() + stored_streaming_.bytes() + stored_lse_.bytes();
  for (const DeviceAllocation* a :
       {&residual_, &mid_, &normed_, &delta_, &qkv32_, &qkv_, &streaming_, &mixed_, &lse_, &gate_up_, &activation_,
        &d_residual_, &d_mid_, &d_bf16_, &d_act_, &d_gate_up_, &d_normed_, &d_mixed_, &d_streaming_, &delta_rows_, &dq_,
        &dk_, &dv_, &d_qkv_, &ids_, &cos_, &sin_, &labels_, &gates_, &gradient_, &loss_, &items_}) {
    memory.scratch_bytes += a->bytes();
  }
  return memory;
}

}  // namespace duo
