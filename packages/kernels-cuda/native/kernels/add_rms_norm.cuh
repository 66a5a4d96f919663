// Fused residual add + RMSNorm, the seam between a Llama decoder layer's sub-blocks:
//   residual = bf16(residual + delta)
//   normed   = bf16(weight * bf16(residual * rsqrt(mean(residual^2) + eps)))
// with Hugging Face's rounding (the add is one bf16 op; LlamaRMSNorm's statistics in fp32), the
// same normalisation as LaunchRmsNormBf16 (kernels/rms_norm.cuh).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace duo {

/**
 * Enqueues the fused add + RMSNorm on `stream`. residual: [tokens, hidden] bf16, updated in place;
 * delta: [tokens, hidden] bf16 (the sub-block's output); weight: [hidden] bf16; normed:
 * [tokens, hidden] bf16 (must not alias residual or delta). One block per row; when hidden is a
 * multiple of 8 (and at most 16384) with 16-byte aligned pointers, the row stays in registers
 * between the statistics and the scaling, so it is read from global memory once.
 */
cudaError_t LaunchAddRmsNorm(__nv_bfloat16* residual, const __nv_bfloat16* delta, const __nv_bfloat16* weight,
                             int tokens, int hidden, float eps, __nv_bfloat16* normed, cudaStream_t stream);

}  // namespace duo
