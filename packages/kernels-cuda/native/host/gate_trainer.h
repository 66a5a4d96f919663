// Gate training of one bf16 Llama/Mistral decoder on one GPU (core's GateTrainer contract): the
// teacher's full-attention forward, the student's gated forward, the distillation loss on the
// final norm and the student's backward pass down to every layer's gates. Model weights are frozen,
// so the backward pass only ever multiplies by them (dx = dy W) and never computes a weight
// gradient. Activation checkpointing: the student keeps each layer's input residual (fp32) and
// recomputes the layer during the backward pass; the teacher keeps each layer's attention output
// (bf16), which the student mixes in. Plain C++ (no Node-API), so the checks can drive it too.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "host/cuda_model.h"
#include "host/device_allocation.h"
#include "host/gemm.h"
#include "host/status.h"
#include "kernels/training_attention.cuh"

namespace duo {

/** What the student keeps of each layer for its backward pass. */
enum class ActivationMemory : int {
  kAuto = 0,       // kStore when it fits in the device's free memory (with a margin), else kRecompute
  kRecompute = 1,  // only the layer inputs: the backward pass recomputes q|k|v and gate|up
  kStore = 2,      // also every layer's q|k|v, gate|up and streaming attention: the backward recomputes o_proj only
};

struct GateTrainerOptions {
  int device = 0;
  int max_tokens = 0;  // longest sample
  TrainingMask mask;
  ActivationMemory activations = ActivationMemory::kAuto;
};

/** Where one step's time went (milliseconds, measured with CUDA events). */
struct GateTrainerTimings {
  float teacher_ms = 0;
  float student_ms = 0;
  float backward_ms = 0;
};

/** Device bytes by purpose. */
struct GateTrainerMemory {
  std::size_t weight_bytes = 0;
  std::size_t checkpoint_bytes = 0;  // the student's layer inputs (and stored activations), the teacher's attention outputs
  std::size_t scratch_bytes = 0;
};

class GateTrainerModel {
 public:
  /** Validates the shape and mask, selects the device, allocates weights and every buffer for max_tokens. */
  static Status Create(const ModelShape& shape, const GateTrainerOptions& options,
                       std::unique_ptr<GateTrainerModel>* out);
  ~GateTrainerModel();
  GateTrainerModel(const GateTrainerModel&) = delete;
  GateTrainerModel& operator=(const GateTrainerModel&) = delete;

  /** Copies one weight tensor (bf16 bits, CudaModel's layout and kinds; no lm_head, which training never reads). */
  Status UploadWeight(WeightKind kind, int layer, const uint16_t* data, std::size_t count);

  /** Benchmarks: every weight seeded-random on the device, as CudaModel::FillRandomWeights. */
  Status FillRandomWeights(uint64_t seed);

  /**
   * One sample: ids [tokens], cos/sin [tokens, d/2] f32 (positions 0..tokens-1, attention scaling
   * included), labels [num_labels] ascending positions, gates [layers * kv_heads] f32 (layer-major).
   * Writes the distillation loss and d(loss)/d(gate) ([layers * kv_heads] f64).
   */
  Status Step(const int32_t* ids, int tokens, const float* cos, const float* sin, const int32_t* labels,
              int num_labels, const float* gates, double* loss, double* gradient, GateTrainerTimings* timings);

  GateTrainerMemory Memory() const;
  const ModelShape& shape() const { return shape_; }
  /** Whether every layer's q|k|v and gate|up are kept (ActivationMemory::kStore, or kAuto where it fit). */
  bool stores_activations() const { return store_activations_; }

 private:
  struct LayerWeights {
    DeviceAllocation input_norm, qkv, o, post_norm, gate_up, down;
  };

  GateTrainerModel(const ModelShape& shape, const GateTrainerOptions& options);
  Status Allocate();
  int QkvWidth() const { return (shape_.num_q_heads + 2 * shape_.num_kv_heads) * shape_.head_dim; }
  int AttentionWidth() const { return shape_.num_q_heads * shape_.head_dim; }
  /** The teacher: full attention everywhere; keeps every layer's attention output and the last residual. */
  Status Teacher(int tokens);
  /**
   * The student's layer `l` from its input (in residual_) to the MLP's gate|up, leaving mid_ (the
   * residual after attention). With `projections` false, q|k|v, gate|up and the streaming
   * attention output (and its log-sum-exp) are the stored ones.
   */
  Status StudentLayerUpToMlp(int l, int tokens, TrainingAttentionArgs attention, bool projections);
  __nv_bfloat16* QkvOf(int l) const;
  __nv_bfloat16* GateUpOf(int l) const;
  __nv_bfloat16* StreamingOf(int l) const;
  float* LseOf(int l) const;
  Status Student(int tokens, const TrainingAttentionArgs& attention);
  Status Backward(int tokens, const TrainingAttentionArgs& attention, int num_items);

  ModelShape shape_;
  GateTrainerOptions options_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t events_[4] = {nullptr, nullptr, nullptr, nullptr};
  std::unique_ptr<Gemm> gemm_;
  std::mutex mutex_;

  DeviceAllocation embed_, final_norm_;
  std::vector<LayerWeights> layers_;

  // Checkpoints for max_tokens rows: the student's input of every layer (f32) and the teacher's
  // attention output of every layer (bf16), plus the teacher's last residual (f32).
  DeviceAllocation layer_inputs_, teacher_attention_, teacher_final_;
  // With store_activations_: every layer's q|k|v (after RoPE) and gate|up, bf16.
  bool store_activations_ = false;
  DeviceAllocation stored_qkv_, stored_gate_up_, stored_streaming_, stored_lse_;
  // Forward scratch (gate_up_ is bf16: the GEMM rounds once, in teacher and student alike).
  DeviceAllocation residual_, mid_, normed_, delta_, qkv32_, qkv_, streaming_, mixed_, lse_, gate_up_, activation_;
  // Backward scratch.
  DeviceAllocation d_residual_, d_mid_, d_bf16_, d_act_, d_gate_up_, d_normed_, d_mixed_, d_streaming_, delta_rows_, dq_,
      dk_, dv_, d_qkv_;
  // Inputs and outputs of a step.
  DeviceAllocation ids_, cos_, sin_, labels_, gates_, gradient_, loss_, items_;
  int items_tokens_ = -1;  // the sequence length items_ was built for
  int num_items_ = 0;
};

}  // namespace duo
