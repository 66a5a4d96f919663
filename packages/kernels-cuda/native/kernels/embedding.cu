// Embedding lookup: one grid row of blocks per token (looping when tokens exceed the grid's y
// limit), each thread copying 16 bytes at a time when the row length and pointers allow it.
#include "kernels/embedding.cuh"

#include <algorithm>
#include <cstdint>

namespace duo {
namespace {

template <int kVec>
struct alignas(2 * kVec) Bf16Pack {
  __nv_bfloat16 v[kVec];
};

template <int kVec>
__global__ void EmbeddingKernel(const __nv_bfloat16* __restrict__ table, const int32_t* __restrict__ ids,
                                int tokens, int hidden, __nv_bfloat16* __restrict__ out) {
  using P = Bf16Pack<kVec>;
  const int packs = hidden / kVec;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= packs) return;
  for (int t = blockIdx.y; t < tokens; t += gridDim.y) {
    // The id is trusted (see the header): int64 so that vocab * hidden may exceed 2^31.
    const int64_t id = ids[t];
    const P* src = reinterpret_cast<const P*>(table + id * hidden);
    P* dst = reinterpret_cast<P*>(out + static_cast<int64_t>(t) * hidden);
    dst[p] = src[p];
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

}  // namespace

cudaError_t LaunchEmbedding(const __nv_bfloat16* table, const int32_t* ids, int tokens, int hidden,
                            __nv_bfloat16* out, cudaStream_t stream) {
  if (tokens < 0 || hidden <= 0) return cudaErrorInvalidValue;
  if (tokens == 0) return cudaSuccess;
  const bool vectorised = hidden % 8 == 0 && Aligned16(table) && Aligned16(out);
  const int packs = vectorised ? hidden / 8 : hidden;
  const int threads = std::min(256, ((packs + 31) / 32) * 32);
  const dim3 grid(static_cast<unsigned>((packs + threads - 1) / threads), static_cast<unsigned>(std::min(tokens, 65535)));
  if (vectorised) {
    EmbeddingKernel<8><<<grid, threads, 0, stream>>>(table, ids, tokens, hidden, out);
  } else {
    EmbeddingKernel<1><<<grid, threads, 0, stream>>>(table, ids, tokens, hidden, out);
  }
  return cudaGetLastError();
}

}  // namespace duo
