// The elementwise and row-wise steps of gate training besides attention and the GEMMs: the gated
// mix of teacher and student attention, its backward (the gates' gradient), RMSNorm, SwiGLU and
// RoPE backward passes, and the distillation loss on the final norm. Everything is fp32 except the
// bf16 operands the GEMMs and attention kernels read. Plain C++: the kernels live in training_ops.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace duo {

/**
 * mixed[t, h, :] = a * full[t, h, :] + (1 - a) * streaming[t, h, :], a = clamp(gates[h / G], 0, 1):
 * the student's per-KV-head mix before o_proj. [T, Hq d] bf16 each; gates [Hkv] f32 (one layer).
 */
cudaError_t LaunchGateMix(const __nv_bfloat16* full, const __nv_bfloat16* streaming, const float* gates, int tokens,
                          int num_q_heads, int num_kv_heads, int head_dim, __nv_bfloat16* mixed, cudaStream_t stream);

/**
 * Backward of LaunchGateMix: d_streaming = bf16((1 - a) * d_mixed) and
 * gradient[g] += sum over tokens, the group's query heads and channels of (full - streaming) * d_mixed
 * (zero where the gate lies outside [0, 1], as torch's clamp passes no gradient there).
 * d_mixed [T, Hq d] f32; gradient [Hkv] f64, accumulated.
 */
cudaError_t LaunchGateMixBackward(const float* d_mixed, const __nv_bfloat16* full, const __nv_bfloat16* streaming,
                                  const float* gates, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                                  __nv_bfloat16* d_streaming, double* gradient, cudaStream_t stream);

/**
 * Input gradient of y = w * x * r, r = 1 / sqrt(mean(x^2) + eps), per row:
 * dx = add + r (dy w) - x r^3 sum(dy w x) / hidden. dy, x, add, dx: [T, hidden] f32 (add may be
 * null; dx may alias add); w [hidden] bf16.
 */
cudaError_t LaunchRmsNormBackward(const float* dy, const float* x, const __nv_bfloat16* weight, const float* add,
                                  int tokens, int hidden, float eps, float* dx, cudaStream_t stream);

/**
 * act[t, j] = bf16(silu(g) * u), g = gate_up[t, j], u = gate_up[t, m + j] (bf16, the GEMM's output),
 * silu in fp32 and one rounding: gate training's MLP, the same in teacher and student.
 */
cudaError_t LaunchSwiGluForward(const __nv_bfloat16* gate_up, int tokens, int m, __nv_bfloat16* act,
                                cudaStream_t stream);

/**
 * Backward of act = silu(gate) * up: d_gate_up[:, :m] = d_act * up * s (1 + gate (1 - s)),
 * d_gate_up[:, m:] = d_act * silu(gate), s = sigmoid(gate). gate_up [T, 2m] bf16 (the forward's GEMM
 * output), d_act [T, m] f32, d_gate_up [T, 2m] bf16.
 */
cudaError_t LaunchSwiGluBackward(const __nv_bfloat16* gate_up, const float* d_act, int tokens, int m,
                                 __nv_bfloat16* d_gate_up, cudaStream_t stream);

/**
 * Backward of rotate-half RoPE, packed for the q|k|v weight GEMM: d_qkv[t] = [R^T dq | R^T dk | dv]
 * in bf16, R^T the rotation by -angle (cos, sin as in the forward, attention scaling included).
 * dq [T, Hq d], dk and dv [T, Hkv d] f32; d_qkv [T, (Hq + 2 Hkv) d] bf16.
 */
cudaError_t LaunchRopeBackward(const float* dq, const float* dk, const float* dv, const float* cos, const float* sin,
                               int tokens, int num_q_heads, int num_kv_heads, int head_dim, __nv_bfloat16* d_qkv,
                               cudaStream_t stream);

/**
 * The distillation loss on the final norm and its gradient at the student's last residual:
 * h = w * x * r (f32) for the student (x_student) and the teacher (x_teacher); for rows with
 * labels[t] != 0, loss += sum((h_s - h_t)^2) / (hidden * num_labels) and dx = RMSNorm backward of
 * 2 (h_s - h_t) / (hidden * num_labels); dx = 0 elsewhere. loss: one f64, accumulated.
 */
cudaError_t LaunchDistillationLoss(const float* x_student, const float* x_teacher, const __nv_bfloat16* weight,
                                   const uint8_t* labels, int num_labels, int tokens, int hidden, float eps,
                                   float* dx, double* loss, cudaStream_t stream);

/** out = bf16(in), n values. */
cudaError_t LaunchF32ToBf16(const float* in, std::size_t n, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace duo
