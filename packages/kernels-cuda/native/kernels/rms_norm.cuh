// RMSNorm over the rows of a [rows, cols] matrix, with Hugging Face LlamaRMSNorm semantics:
// y = weight * cast_T(x * rsqrt(mean(x^2) + eps)), the normalisation computed in fp32 and, for
// bf16, rounded to bf16 before the weight product (which is itself rounded to bf16).
// The kernels section is device code (seen only by nvcc); the launchers section is plain C++.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace duo {

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------
#ifdef __CUDACC__
namespace rms_norm_detail {

__device__ __forceinline__ float ToFloat(float value) { return value; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 value) { return __bfloat162float(value); }

template <typename T>
__device__ __forceinline__ T FromFloat(float value);
template <>
__device__ __forceinline__ float FromFloat<float>(float value) {
  return value;
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}

/** kVec consecutive elements moved as one aligned load or store (16 bytes when vectorised). */
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

/** Sum of `value` over the block; blockDim.x must be a multiple of 32. `scratch` holds 32 floats. */
__device__ __forceinline__ float BlockSum(float value, float* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x >> 5;
    value = lane < warps ? scratch[lane] : 0.0f;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    if (lane == 0) scratch[0] = value;
  }
  __syncthreads();
  return scratch[0];
}

/**
 * One block per row. input/output: [rows, cols] T; weight: [cols] T. cols must be a multiple of
 * kVec and every row 16-byte aligned when kVec > 1. The row is read twice (sum of squares, then
 * scale); the second read hits L1/L2 for the row sizes of LLM hidden states.
 */
template <typename T, int kVec>
__global__ void RmsNormKernel(const T* __restrict__ input, const T* __restrict__ weight,
                              T* __restrict__ output, int cols, float eps) {
  __shared__ float scratch[32];
  using P = Pack<T, kVec>;
  const int64_t row_offset = static_cast<int64_t>(blockIdx.x) * cols;
  const P* in_row = reinterpret_cast<const P*>(input + row_offset);
  const P* w_row = reinterpret_cast<const P*>(weight);
  P* out_row = reinterpret_cast<P*>(output + row_offset);
  const int packs = cols / kVec;

  float sum = 0.0f;
  for (int p = threadIdx.x; p < packs; p += blockDim.x) {
    const P x = in_row[p];
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float f = ToFloat(x.v[k]);
      sum += f * f;
    }
  }
  const float inv_rms = rsqrtf(BlockSum(sum, scratch) / static_cast<float>(cols) + eps);

  for (int p = threadIdx.x; p < packs; p += blockDim.x) {
    const P x = in_row[p];
    const P w = w_row[p];
    P y;
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const T normed = FromFloat<T>(ToFloat(x.v[k]) * inv_rms);
      y.v[k] = FromFloat<T>(ToFloat(w.v[k]) * ToFloat(normed));
    }
    out_row[p] = y;
  }
}

}  // namespace rms_norm_detail
#endif  // __CUDACC__

// ---------------------------------------------------------------------------------------------
// Launchers
// ---------------------------------------------------------------------------------------------

/**
 * Enqueues RMSNorm on `stream`. input/output: [rows, cols] bf16 (device); weight: [cols] bf16.
 * Returns the launch error (cudaErrorInvalidValue when rows exceeds the grid limit); errors during
 * execution surface at the next synchronisation.
 */
cudaError_t LaunchRmsNormBf16(const __nv_bfloat16* input, const __nv_bfloat16* weight,
                              __nv_bfloat16* output, int64_t rows, int cols, float eps,
                              cudaStream_t stream);

/** As LaunchRmsNormBf16, in fp32 throughout. input/output: [rows, cols] f32; weight: [cols] f32. */
cudaError_t LaunchRmsNormF32(const float* input, const float* weight, float* output, int64_t rows,
                             int cols, float eps, cudaStream_t stream);

}  // namespace duo
