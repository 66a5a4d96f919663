// RoPE: one block per token (looping past the grid limit); each thread rotates kVec pairs
// (x[i], x[i + d/2]) of one head, loading both halves and the matching cos/sin entries as 16-byte
// vectors when head_dim / 2 is a multiple of 8 and the pointers are aligned.
#include "kernels/rope.cuh"

#include <algorithm>
#include <cstdint>

namespace duo {
namespace {

// At most 16-byte alignment: an 8-float pack is two 16-byte loads, so a 16-byte aligned table will do.
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec < 16 ? sizeof(T) * kVec : 16) Pack {
  T v[kVec];
};

template <int kVec>
__global__ void RopeKernel(__nv_bfloat16* __restrict__ qkv, int tokens, int rotated_heads, int row_stride,
                           int head_dim, const float* __restrict__ cos, const float* __restrict__ sin) {
  using B = Pack<__nv_bfloat16, kVec>;
  using F = Pack<float, kVec>;
  const int half = head_dim / 2;
  const int chunks = half / kVec;
  const int work = rotated_heads * chunks;
  for (int t = blockIdx.x; t < tokens; t += gridDim.x) {
    __nv_bfloat16* row = qkv + static_cast<int64_t>(t) * row_stride;
    const float* cos_row = cos + static_cast<int64_t>(t) * half;
    const float* sin_row = sin + static_cast<int64_t>(t) * half;
    for (int w = threadIdx.x; w < work; w += blockDim.x) {
      const int head = w / chunks;
      const int i0 = (w - head * chunks) * kVec;
      __nv_bfloat16* x = row + head * head_dim + i0;
      B lo = *reinterpret_cast<const B*>(x);
      B hi = *reinterpret_cast<const B*>(x + half);
      const F c = *reinterpret_cast<const F*>(cos_row + i0);
      const F s = *reinterpret_cast<const F*>(sin_row + i0);
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        // HF rounds the fp32 tables to bf16, then every product and every sum is one bf16 op.
        const float cb = __bfloat162float(__float2bfloat16_rn(c.v[k]));
        const float sb = __bfloat162float(__float2bfloat16_rn(s.v[k]));
        const float x0 = __bfloat162float(lo.v[k]);
        const float x1 = __bfloat162float(hi.v[k]);
        const float x0c = __bfloat162float(__float2bfloat16_rn(x0 * cb));
        const float x1s = __bfloat162float(__float2bfloat16_rn(x1 * sb));
        const float x1c = __bfloat162float(__float2bfloat16_rn(x1 * cb));
        const float x0s = __bfloat162float(__float2bfloat16_rn(x0 * sb));
        lo.v[k] = __float2bfloat16_rn(x0c - x1s);
        hi.v[k] = __float2bfloat16_rn(x1c + x0s);
      }
      *reinterpret_cast<B*>(x) = lo;
      *reinterpret_cast<B*>(x + half) = hi;
    }
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

}  // namespace

cudaError_t LaunchRope(__nv_bfloat16* qkv, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                       const float* cos, const float* sin, cudaStream_t stream) {
  if (tokens < 0 || num_q_heads < 0 || num_kv_heads < 0 || head_dim <= 0 || head_dim % 2 != 0)
    return cudaErrorInvalidValue;
  const int64_t row_stride = (static_cast<int64_t>(num_q_heads) + 2 * static_cast<int64_t>(num_kv_heads)) * head_dim;
  if (row_stride > INT32_MAX) return cudaErrorInvalidValue;
  const int rotated_heads = num_q_heads + num_kv_heads;
  if (tokens == 0 || rotated_heads == 0) return cudaSuccess;
  const int half = head_dim / 2;
  // 16-byte bf16 vectors need every head's halves aligned: half % 8 == 0 makes each half-head a
  // multiple of 16 bytes, and then the row stride is one too; the fp32 tables need half % 4 == 0.
  const bool vectorised = half % 8 == 0 && Aligned16(qkv) && Aligned16(cos) && Aligned16(sin);
  const int work = rotated_heads * (vectorised ? half / 8 : half);
  const int threads = std::min(512, ((work + 31) / 32) * 32);
  const dim3 grid(static_cast<unsigned>(tokens));
  if (vectorised) {
    RopeKernel<8><<<grid, threads, 0, stream>>>(qkv, tokens, rotated_heads, static_cast<int>(row_stride), head_dim, cos, sin);
  } else {
    RopeKernel<1><<<grid, threads, 0, stream>>>(qkv, tokens, rotated_heads, static_cast<int>(row_stride), head_dim, cos, sin);
  }
  return cudaGetLastError();
}

}  // namespace duo
