// Counter-based (splitmix64 of seed ^ index) so any element can be recomputed independently.
#include "kernels/fill_random.cuh"

namespace duo {
namespace {

__device__ __forceinline__ uint64_t Mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

__global__ void FillRandomBf16Kernel(__nv_bfloat16* data, std::size_t count, uint64_t seed, float scale,
                                     float offset) {
  const uint64_t key = Mix(seed);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const uint64_t bits = Mix(key ^ i);
    const float unit = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1), 24 bits
    data[i] = __float2bfloat16_rn(offset + scale * (2.0f * unit - 1.0f));
  }
}

}  // namespace

cudaError_t LaunchFillRandomBf16(__nv_bfloat16* data, std::size_t count, uint64_t seed, float scale, float offset,
                                 cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const int threads = 256;
  const std::size_t wanted = (count + threads - 1) / threads;
  const int blocks = static_cast<int>(wanted < 65536 ? wanted : 65536);
  FillRandomBf16Kernel<<<blocks, threads, 0, stream>>>(data, count, seed, scale, offset);
  return cudaGetLastError();
}

}  // namespace duo
