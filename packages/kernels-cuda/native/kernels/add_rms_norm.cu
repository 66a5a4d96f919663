// Fused residual add + RMSNorm. Register path: each thread keeps kPacks 16-byte packs of the new
// residual in registers across the block reduction. Generic path (any hidden, any alignment): the
// new residual is written, then read back by the same thread after the reduction.
#include "kernels/add_rms_norm.cuh"

#include <climits>
#include <cstdint>

namespace duo {
namespace {

struct alignas(16) Pack8 {
  __nv_bfloat16 v[8];
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
    value = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : 0.0f;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    if (lane == 0) scratch[0] = value;
  }
  __syncthreads();
  return scratch[0];
}

__device__ __forceinline__ float RoundBf16(float value) { return __bfloat162float(__float2bfloat16_rn(value)); }

// The kept row is stored as bf16 packs (4 registers each); kPacks <= 4 with <= 512 threads.
template <int kPacks>
__global__ void __launch_bounds__(512) AddRmsNormRegisterKernel(__nv_bfloat16* __restrict__ residual, const __nv_bfloat16* __restrict__ delta,
                                         const __nv_bfloat16* __restrict__ weight, int hidden, float eps,
                                         __nv_bfloat16* __restrict__ normed) {
  __shared__ float scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * hidden;
  Pack8* res_row = reinterpret_cast<Pack8*>(residual + offset);
  const Pack8* delta_row = reinterpret_cast<const Pack8*>(delta + offset);
  const Pack8* w_row = reinterpret_cast<const Pack8*>(weight);
  Pack8* out_row = reinterpret_cast<Pack8*>(normed + offset);
  const int packs = hidden / 8;

  Pack8 x[kPacks];
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < kPacks; ++j) {
    const int p = threadIdx.x + j * blockDim.x;
    if (p < packs) {
      const Pack8 r = res_row[p];
      const Pack8 d = delta_row[p];
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        x[j].v[k] = __float2bfloat16_rn(__bfloat162float(r.v[k]) + __bfloat162float(d.v[k]));
        const float f = __bfloat162float(x[j].v[k]);
        sum += f * f;
      }
      res_row[p] = x[j];
    }
  }
  const float inv_rms = rsqrtf(BlockSum(sum, scratch) / static_cast<float>(hidden) + eps);
#pragma unroll
  for (int j = 0; j < kPacks; ++j) {
    const int p = threadIdx.x + j * blockDim.x;
    if (p < packs) {
      const Pack8 w = w_row[p];
      Pack8 y;
#pragma unroll
      for (int k = 0; k < 8; ++k) y.v[k] = __float2bfloat16_rn(__bfloat162float(w.v[k]) * RoundBf16(__bfloat162float(x[j].v[k]) * inv_rms));
      out_row[p] = y;
    }
  }
}

__global__ void AddRmsNormGenericKernel(__nv_bfloat16* __restrict__ residual, const __nv_bfloat16* __restrict__ delta,
                                        const __nv_bfloat16* __restrict__ weight, int hidden, float eps,
                                        __nv_bfloat16* __restrict__ normed) {
  __shared__ float scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * hidden;
  __nv_bfloat16* res_row = residual + offset;
  const __nv_bfloat16* delta_row = delta + offset;
  __nv_bfloat16* out_row = normed + offset;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    const __nv_bfloat16 s = __float2bfloat16_rn(__bfloat162float(res_row[i]) + __bfloat162float(delta_row[i]));
    res_row[i] = s;
    const float f = __bfloat162float(s);
    sum += f * f;
  }
  const float inv_rms = rsqrtf(BlockSum(sum, scratch) / static_cast<float>(hidden) + eps);
  // Each thread reads back only the elements it wrote itself, so no barrier is needed for them.
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    const float f = __bfloat162float(res_row[i]);
    out_row[i] = __float2bfloat16_rn(__bfloat162float(weight[i]) * RoundBf16(f * inv_rms));
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

int Warps(int work, int cap) {
  int threads = ((work + 31) / 32) * 32;
  return threads > cap ? cap : threads;
}

}  // namespace

cudaError_t LaunchAddRmsNorm(__nv_bfloat16* residual, const __nv_bfloat16* delta, const __nv_bfloat16* weight,
                             int tokens, int hidden, float eps, __nv_bfloat16* normed, cudaStream_t stream) {
  if (tokens < 0 || hidden <= 0) return cudaErrorInvalidValue;
  if (tokens == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(tokens));
  const bool vectorised = hidden % 8 == 0 && Aligned16(residual) && Aligned16(delta) && Aligned16(weight) && Aligned16(normed);
  const int packs = hidden / 8;
  // The fewest packs per thread that keep the block at <= 512 threads: fewer registers per thread
  // for the common sizes, one read of the row for every size up to 16384.
  if (vectorised && packs <= 512) {
    AddRmsNormRegisterKernel<1><<<grid, Warps(packs, 512), 0, stream>>>(residual, delta, weight, hidden, eps, normed);
  } else if (vectorised && packs <= 1024) {
    AddRmsNormRegisterKernel<2><<<grid, Warps((packs + 1) / 2, 512), 0, stream>>>(residual, delta, weight, hidden, eps, normed);
  } else if (vectorised && packs <= 2048) {
    AddRmsNormRegisterKernel<4><<<grid, Warps((packs + 3) / 4, 512), 0, stream>>>(residual, delta, weight, hidden, eps, normed);
  } else {
    AddRmsNormGenericKernel<<<grid, Warps(hidden, 1024), 0, stream>>>(residual, delta, weight, hidden, eps, normed);
  }
  return cudaGetLastError();
}

}  // namespace duo
