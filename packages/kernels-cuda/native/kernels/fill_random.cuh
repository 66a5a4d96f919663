// Seeded uniform random bf16 values written on the device: random weights for benchmark models
// too large to build on the host (Llama-3-8B is 16 GB of bf16), and synthetic KV caches.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace duo {

/**
 * data[i] = bf16(scale * u_i), u_i uniform in [-1, 1) from a counter-based hash of (seed, i), so
 * the values do not depend on the launch shape. `offset` is added to every value (norm weights: 1).
 */
cudaError_t LaunchFillRandomBf16(__nv_bfloat16* data, std::size_t count, uint64_t seed, float scale, float offset,
                                 cudaStream_t stream);

}  // namespace duo
