// Small memory-bound kernels that move a few MB per decode step, where their cost is latency: the
// norm is one block per row holding the row in registers between its two passes, the others spread
// a row's columns over many blocks. Each lets the kernel after it be scheduled early
// (dependent_launch.cuh): the GEMVs and decode attention start streaming weights or cache rows.
#include "kernels/fp32_activations.cuh"

#include <cstdint>

#include "kernels/dependent_launch.cuh"
#include "kernels/rms_norm.cuh"  // rms_norm_detail::BlockSum

namespace duo {
namespace {

constexpr int kThreads = 256;
// The norm keeps up to kNormCached float4 per thread in registers between its two passes, and takes
// as many threads (<= 1024) as a row needs for that: hidden 4096 is 256 threads x 4 float4, all
// loads in flight at once. A decode step normalises one row, so latency, not bandwidth, is its cost.
constexpr int kNormCached = 4;
constexpr int kNormMaxThreads = 1024;

/** 2-D grid: blockIdx.x covers columns, blockIdx.y (looping past its limit) covers tokens. */
__global__ void EmbeddingF32Kernel(const __nv_bfloat16* __restrict__ table, const int32_t* __restrict__ ids,
                                   int tokens, int hidden, float* __restrict__ residual) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= hidden) return;
  for (int t = blockIdx.y; t < tokens; t += gridDim.y) {
    residual[static_cast<int64_t>(t) * hidden + j] = __bfloat162float(table[static_cast<int64_t>(ids[t]) * hidden + j]);
  }
}

__device__ __forceinline__ float4 Add(float4 a, float4 b) { return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w); }
__device__ __forceinline__ float SumOfSquares(float4 a) { return a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w; }

/** Four bf16 from 8 bytes (element 0 in the low half of .x). */
__device__ __forceinline__ float4 UnpackBf16x4(uint2 v) {
  return make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xFFFF0000u), __uint_as_float(v.y << 16),
                     __uint_as_float(v.y & 0xFFFF0000u));
}

__device__ __forceinline__ uint2 PackBf16x4(float4 v) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
  const __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
  return make_uint2(*reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
}

/** One block per row; hidden % 4 == 0 and 16-byte aligned rows (checked by the launcher). */
__global__ void __launch_bounds__(kNormMaxThreads) ResidualRmsNormKernel(float* __restrict__ residual,
                                                                        const float* __restrict__ delta,
                                                                        const __nv_bfloat16* __restrict__ weight,
                                                                        int hidden, float eps,
                                                                        __nv_bfloat16* __restrict__ normed) {
  AllowDependentLaunch();  // the GEMV after it may stream its weights while this one runs
  __shared__ float scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * hidden;
  float4* r = reinterpret_cast<float4*>(residual + offset);
  const float4* e = delta != nullptr ? reinterpret_cast<const float4*>(delta + offset) : nullptr;
  const uint2* w = reinterpret_cast<const uint2*>(weight);
  uint2* out = reinterpret_cast<uint2*>(normed + offset);
  const int chunks = hidden / 4;
  const int cached_end = kNormCached * blockDim.x;

  float4 cached[kNormCached];
  float sum = 0.0f;
#pragma unroll
  for (int u = 0; u < kNormCached; ++u) {
    const int c = threadIdx.x + u * blockDim.x;
    if (c < chunks) cached[u] = r[c];
  }
  if (e != nullptr) {
#pragma unroll
    for (int u = 0; u < kNormCached; ++u) {
      const int c = threadIdx.x + u * blockDim.x;
      if (c < chunks) {
        cached[u] = Add(cached[u], e[c]);
        r[c] = cached[u];
      }
    }
  }
#pragma unroll
  for (int u = 0; u < kNormCached; ++u) {
    if (threadIdx.x + u * blockDim.x < chunks) sum += SumOfSquares(cached[u]);
  }
  // Rows wider than the registers hold (hidden > 16 * blockDim) re-read the rest in the second pass.
  for (int c = cached_end + threadIdx.x; c < chunks; c += blockDim.x) {
    float4 x = r[c];
    if (e != nullptr) {
      x = Add(x, e[c]);
      r[c] = x;
    }
    sum += SumOfSquares(x);
  }
  const float inv = rsqrtf(rms_norm_detail::BlockSum(sum, scratch) / static_cast<float>(hidden) + eps);
  const auto store = [&](int c, float4 x) {
    const float4 g = UnpackBf16x4(w[c]);
    out[c] = PackBf16x4(make_float4(g.x * (x.x * inv), g.y * (x.y * inv), g.z * (x.z * inv), g.w * (x.w * inv)));
  };
#pragma unroll
  for (int u = 0; u < kNormCached; ++u) {
    const int c = threadIdx.x + u * blockDim.x;
    if (c < chunks) store(c, cached[u]);
  }
  for (int c = cached_end + threadIdx.x; c < chunks; c += blockDim.x) store(c, r[c]);
}

__global__ void SwiGluF32Kernel(const float* __restrict__ gate_up, int64_t count, int m,
                                __nv_bfloat16* __restrict__ out) {
  AllowDependentLaunch();  // the down-projection GEMV may stream its weights while this one runs
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / m;
    const int64_t j = i - t * m;
    const float g = gate_up[t * 2 * m + j];
    const float u = gate_up[t * 2 * m + m + j];
    out[i] = __float2bfloat16_rn(g / (1.0f + expf(-g)) * u);
  }
}

/** 2-D grid: blockIdx.x covers the columns of a row, blockIdx.y (looping) the tokens. */
__global__ void RopeF32Kernel(const float* __restrict__ qkv32, int tokens, int rotated_heads, int width,
                              int head_dim, const float* __restrict__ cos, const float* __restrict__ sin,
                              __nv_bfloat16* __restrict__ qkv16) {
  AllowDependentLaunch();  // decode attention may stream the cache (it waits before reading q)
  const int half = head_dim / 2;
  const int rotated = rotated_heads * head_dim;
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= width) return;
  for (int t = blockIdx.y; t < tokens; t += gridDim.y) {
    const float* in = qkv32 + static_cast<int64_t>(t) * width;
    float y = in[j];
    if (j < rotated) {
      const float* c = cos + static_cast<int64_t>(t) * half;
      const float* s = sin + static_cast<int64_t>(t) * half;
      const int i = j % head_dim;
      if (i < half) {
        y = in[j] * c[i] - in[j + half] * s[i];
      } else {
        y = in[j] * c[i - half] + in[j - half] * s[i - half];
      }
    }
    qkv16[static_cast<int64_t>(t) * width + j] = __float2bfloat16_rn(y);
  }
}

int Blocks(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks < 1 ? 1 : blocks) : 65535);
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

/** Grid of (column blocks, tokens) for the one-thread-per-column kernels. */
dim3 ColumnGrid(int columns, int tokens) {
  return dim3(static_cast<unsigned>((columns + kThreads - 1) / kThreads), static_cast<unsigned>(tokens < 65535 ? tokens : 65535));
}

}  // namespace

cudaError_t LaunchEmbeddingF32(const __nv_bfloat16* table, const int32_t* ids, int tokens, int hidden,
                               float* residual, cudaStream_t stream) {
  if (tokens <= 0 || hidden <= 0) return cudaErrorInvalidValue;
  EmbeddingF32Kernel<<<ColumnGrid(hidden, tokens), kThreads, 0, stream>>>(table, ids, tokens, hidden, residual);
  return cudaGetLastError();
}

cudaError_t LaunchResidualRmsNorm(float* residual, const float* delta, const __nv_bfloat16* weight, int tokens,
                                  int hidden, float eps, __nv_bfloat16* normed, cudaStream_t stream) {
  if (tokens <= 0 || hidden <= 0 || hidden % 4 != 0) return cudaErrorInvalidValue;
  if (!Aligned16(residual) || (delta != nullptr && !Aligned16(delta)) || !Aligned16(weight) || !Aligned16(normed))
    return cudaErrorInvalidValue;
  // One block per row (grid.x allows 2^31 - 1 rows), enough threads to hold a row in registers.
  const int per_thread = 4 * kNormCached;
  int threads = (hidden + per_thread - 1) / per_thread;
  threads = (threads + 31) / 32 * 32;
  threads = threads < 128 ? 128 : (threads > kNormMaxThreads ? kNormMaxThreads : threads);
  ResidualRmsNormKernel<<<tokens, threads, 0, stream>>>(residual, delta, weight, hidden, eps, normed);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGluF32(const float* gate_up, int tokens, int m, __nv_bfloat16* out, cudaStream_t stream) {
  if (tokens <= 0 || m <= 0) return cudaErrorInvalidValue;
  const int64_t count = static_cast<int64_t>(tokens) * m;
  SwiGluF32Kernel<<<Blocks(count), kThreads, 0, stream>>>(gate_up, count, m, out);
  return cudaGetLastError();
}

cudaError_t LaunchRopeF32(const float* qkv32, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                          const float* cos, const float* sin, __nv_bfloat16* qkv16, cudaStream_t stream) {
  if (tokens <= 0 || head_dim <= 0 || head_dim % 2 != 0) return cudaErrorInvalidValue;
  const int width = (num_q_heads + 2 * num_kv_heads) * head_dim;
  RopeF32Kernel<<<ColumnGrid(width, tokens), kThreads, 0, stream>>>(qkv32, tokens, num_q_heads + num_kv_heads, width,
                                                                    head_dim, cos, sin, qkv16);
  return cudaGetLastError();
}

}  // namespace duo
