// Skinny GEMM for decode: y[m, n] = x[m, k] . w[n, k]^T with 1 <= m <= 8 (PyTorch nn.Linear: w is
// row-major [out, in]), bf16 inputs, fp32 accumulation, bf16 or fp32 output. With so few rows of x
// the product is bound by reading w once (n * k * 2 bytes), so the kernel is built to stream w at
// HBM bandwidth; cuBLASLt handles m > 8 (host/gemm.h chooses).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace duo {

/** Largest m the skinny kernel takes. */
constexpr int kGemvMaxRows = 8;

/**
 * True when LaunchGemv* accepts these arguments: 1 <= m <= 8, n >= 1, k >= 8, k % 8 == 0, and x and
 * w 16-byte aligned (so every row of both is, for 16-byte vector loads).
 */
bool GemvSupported(const void* x, const void* w, int m, int n, int k);

/**
 * Enqueues y = x . w^T on `stream`. x: [m, k] bf16, w: [n, k] bf16, y: [m, n] (row stride n).
 * Returns cudaErrorInvalidValue when !GemvSupported(...), else the launch error. Uses the current
 * device; safe to call from several host threads.
 */
cudaError_t LaunchGemvBf16(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int n, int k,
                           cudaStream_t stream);
cudaError_t LaunchGemvF32(const __nv_bfloat16* x, const __nv_bfloat16* w, float* y, int m, int n, int k,
                          cudaStream_t stream);

}  // namespace duo
