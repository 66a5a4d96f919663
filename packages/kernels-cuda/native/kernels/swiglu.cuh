// SwiGLU of a Llama MLP: out = bf16(bf16(silu(gate)) * up), the rounding of Hugging Face's
// act_fn(gate_proj(x)) * up_proj(x) in bf16 (SiLU evaluated in fp32 and rounded, then the product).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace duo {

/**
 * Enqueues SwiGLU on `stream`. gate_up: [tokens, 2m] bf16, each row the gate projection (columns
 * [0, m)) followed by the up projection (columns [m, 2m)); out: [tokens, m] bf16.
 * silu(g) = g / (1 + expf(-g)) in fp32 (IEEE division, accurate expf).
 */
cudaError_t LaunchSwiGlu(const __nv_bfloat16* gate_up, int tokens, int m, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace duo
