// The fp32 seams of the cuda backend's decoder. The backend is judged against float32 goldens
// (issue #7: logits within 2e-2 relative), and rounding every intermediate to bf16 the way a bf16
// PyTorch model does costs about 2-3.5% on the toy model. So only what feeds a GEMM (normalised
// activations, the SwiGLU product, attention outputs) and what is cached (q|k|v) is bf16; the
// residual stream, GEMM outputs and the arithmetic between them stay fp32, each value rounded to
// bf16 at most once.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace duo {

/** residual[t, :] = float(table[ids[t], :]). ids are checked by the host to be in [0, vocab). */
cudaError_t LaunchEmbeddingF32(const __nv_bfloat16* table, const int32_t* ids, int tokens, int hidden,
                               float* residual, cudaStream_t stream);

/**
 * residual += delta (fp32, in place; delta may be null: no add), then
 * normed = bf16(weight * residual * rsqrt(mean(residual^2) + eps)), computed in fp32 and rounded once.
 * residual, delta: [tokens, hidden] f32; weight: [hidden] bf16; normed: [tokens, hidden] bf16.
 * hidden % 4 == 0 and every pointer 16-byte aligned, else cudaErrorInvalidValue.
 */
cudaError_t LaunchResidualRmsNorm(float* residual, const float* delta, const __nv_bfloat16* weight, int tokens,
                                  int hidden, float eps, __nv_bfloat16* normed, cudaStream_t stream);

/** out[t, j] = bf16(silu(gate) * up) with gate = gate_up[t, j], up = gate_up[t, m + j], all fp32 until the one rounding. */
cudaError_t LaunchSwiGluF32(const float* gate_up, int tokens, int m, __nv_bfloat16* out, cudaStream_t stream);

/**
 * Rotate-half RoPE in fp32 from the fp32 qkv GEMM output, writing the bf16 q|k|v the attention
 * kernels and caches read: qkv32, qkv16: [tokens, (Hq + 2 Hkv) d]; the first Hq + Hkv heads are
 * rotated (y[i] = x[i] cos - x[i + d/2] sin, y[i + d/2] = x[i + d/2] cos + x[i] sin, i < d/2), value
 * heads copied; every value rounded once. cos, sin: [tokens, d/2] f32 (attention scaling included).
 */
cudaError_t LaunchRopeF32(const float* qkv32, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                          const float* cos, const float* sin, __nv_bfloat16* qkv16, cudaStream_t stream);

}  // namespace duo
