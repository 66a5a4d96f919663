// Rotary position embedding (Hugging Face Llama "rotate half"), applied in place to the query and
// key heads of a layer's fused qkv activations, with HF's bf16 rounding sequence.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace duo {

/**
 * Enqueues RoPE on `stream`. qkv: [tokens, (Hq + 2*Hkv) * d] bf16, rotated in place for the first
 * Hq + Hkv heads of every row (queries and keys); value heads are not touched. cos, sin: device
 * [tokens, d/2] fp32 each, row t for the position of token t, already multiplied by RoPE's
 * attention scaling (every RoPE variant differs only in these tables). For i < d/2, with
 * c = bf16(cos[i]), s = bf16(sin[i]) (HF casts the tables to the activation dtype):
 *   y[i]       = bf16(bf16(x[i] * c)       - bf16(x[i + d/2] * s))
 *   y[i + d/2] = bf16(bf16(x[i + d/2] * c) + bf16(x[i] * s))
 * which is HF's q*cos + rotate_half(q)*sin evaluated as separate bf16 PyTorch ops (each product and
 * the sum rounded; negation is exact). head_dim must be even and positive.
 */
cudaError_t LaunchRope(__nv_bfloat16* qkv, int tokens, int num_q_heads, int num_kv_heads, int head_dim,
                       const float* cos, const float* sin, cudaStream_t stream);

}  // namespace duo
