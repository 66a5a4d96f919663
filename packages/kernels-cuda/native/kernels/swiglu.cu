// SwiGLU: a 2-D grid (column blocks x tokens, looping past the grid's y limit); each thread turns
// 8 gate and 8 up values (16-byte loads) into 8 outputs when m and the pointers allow it.
#include "kernels/swiglu.cuh"

#include <algorithm>
#include <cstdint>

namespace duo {
namespace {

template <int kVec>
struct alignas(2 * kVec) Bf16Pack {
  __nv_bfloat16 v[kVec];
};

template <int kVec>
__global__ void SwiGluKernel(const __nv_bfloat16* __restrict__ gate_up, int tokens, int m,
                             __nv_bfloat16* __restrict__ out) {
  using P = Bf16Pack<kVec>;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= m / kVec) return;
  for (int t = blockIdx.y; t < tokens; t += gridDim.y) {
    const __nv_bfloat16* row = gate_up + static_cast<int64_t>(t) * 2 * m;
    const P g = reinterpret_cast<const P*>(row)[p];
    const P u = reinterpret_cast<const P*>(row + m)[p];
    P y;
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float x = __bfloat162float(g.v[k]);
      // expf and IEEE division (no fast-math intrinsics): the same fp32 SiLU PyTorch's kernel computes.
      const float silu = __bfloat162float(__float2bfloat16_rn(x / (1.0f + expf(-x))));
      y.v[k] = __float2bfloat16_rn(silu * __bfloat162float(u.v[k]));
    }
    reinterpret_cast<P*>(out + static_cast<int64_t>(t) * m)[p] = y;
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

}  // namespace

cudaError_t LaunchSwiGlu(const __nv_bfloat16* gate_up, int tokens, int m, __nv_bfloat16* out, cudaStream_t stream) {
  if (tokens < 0 || m <= 0) return cudaErrorInvalidValue;
  if (tokens == 0) return cudaSuccess;
  // m % 8 == 0 keeps the up half and every row 16-byte aligned.
  const bool vectorised = m % 8 == 0 && Aligned16(gate_up) && Aligned16(out);
  const int packs = vectorised ? m / 8 : m;
  const int threads = std::min(256, ((packs + 31) / 32) * 32);
  const dim3 grid(static_cast<unsigned>((packs + threads - 1) / threads), static_cast<unsigned>(std::min(tokens, 65535)));
  if (vectorised) {
    SwiGluKernel<8><<<grid, threads, 0, stream>>>(gate_up, tokens, m, out);
  } else {
    SwiGluKernel<1><<<grid, threads, 0, stream>>>(gate_up, tokens, m, out);
  }
  return cudaGetLastError();
}

}  // namespace duo
