// Decode GEMVs (one row of x) with the residual add + RMSNorm that produces x fused into their
// prologue, and optionally SwiGLU fused into their epilogue (issue #18). Every CTA of the GEMV
// computes the normalised row itself, straight into the shared-memory tile the GEMV reads x from
// (the row is 16 KB of fp32 for hidden 4096, served from L2), so the separate norm kernel, its
// launch and its bf16 round trip through global memory go away; block 0 also writes the updated
// residual for the next layer. With SwiGLU, a warp takes gate row j and up row j together (rows j
// and m + j of the fused gate|up matrix, no repacking) and writes bf16(silu(g) * u) only.
//
// Bit-identical to fp32_activations.cuh's LaunchResidualRmsNorm followed by gemv.cuh's
// LaunchGemvF32 (and LaunchSwiGluF32) when hidden <= 4096, where the norm sums in the same order;
// for wider rows the sum of squares is ordered differently (fp32 rounding, see the check).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace duo {

/** The norm that makes the GEMV's x: x = bf16(weight * r * rsqrt(mean(r^2) + eps)), r = residual + delta. */
struct GemvNormPrologue {
  const float* residual = nullptr;          // [k] f32
  const float* delta = nullptr;             // [k] f32, or null (no add)
  float* residual_out = nullptr;            // [k] f32, or null: receives r (must not alias residual)
  const __nv_bfloat16* weight = nullptr;    // [k] bf16
  float eps = 1e-5f;
};

/** True when the fused GEMVs take this k and these pointers: k % 8 == 0, k <= 32768, 16-byte aligned. */
bool GemvNormSupported(const GemvNormPrologue& norm, const void* w, int k);

/** y[j] = x . w[j] for j < n (fp32 out), x from the prologue. w: [n, k] bf16. */
cudaError_t LaunchGemvNormF32(const GemvNormPrologue& norm, const __nv_bfloat16* w, float* y, int n, int k,
                              cudaStream_t stream);

/**
 * y[j] = bf16(silu(g) * u) with g = x . w[j], u = x . w[m + j] (fp32 until the one rounding),
 * j < m. w: the fused gate|up matrix [2m, k] bf16 (gate rows, then up rows).
 */
cudaError_t LaunchGemvNormSwiGlu(const GemvNormPrologue& norm, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int k,
                                 cudaStream_t stream);

}  // namespace duo
