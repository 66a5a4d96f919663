// The KV4 cache on the GPU (DESIGN §5, ADR 0007, core's quant/kv4-codec.ts): one group per (token,
// KV head) holds that head's d values as asymmetric 4-bit codes with an fp16 scale and zero, bit for
// bit what kv4-codec.ts computes from the same float values:
//
//   min, max     over the group, float32 (of the bf16 inputs; the first of equal values wins, so
//                the sign of a zero min is the one kv4-codec.ts keeps)
//   scale32      = f32(f32(f32(max − min) / 15) + f32(1e-8))
//   code         = clamp(roundHalfAwayFromZero(f32(f32(x − min) / scale32)), 0, 15)
//   scale, zero  = fp16(scale32), fp16(min)
//   x̂            = fp16(fp16(code · scale) + zero)       (dequantization, fp16 arithmetic)
//
// Layout of one cache (one for K, one for V; the same for the retrieval cache [capacity, Fr], the
// streaming sink+ring cache [S + R, Fs] and the per-call staging buffer [T, Hkv]):
//   codes   [rows, heads, d / 2] uint8: byte i of a group holds element 2i in its high nibble and
//           element 2i + 1 in its low nibble (kv4-codec.ts's packing);
//   params  [rows, heads] __half2: .x = scale, .y = zero (one 4-byte load per group).
// Group (row, head) is group index row * heads + head, as in kv4-codec.ts's Kv4Groups, so a
// Kv4Groups of `rows * heads` groups maps onto one cache by splitting scales/zeros into params.
// Per token and KV head: d / 2 + 4 bytes for K and as many for V (136 bytes at d = 128, vs 512 in bf16).
//
// One decode or prefill call with a KV4 cache (what the reference executor does, reference spec §5.2):
//   1. LaunchKv4Quantize: the call's K/V (from qkv, keys after RoPE) into a staging KV4 buffer [T, Hkv];
//   2. attention: the first chunk of a sequence (no past) attends to the exact bf16 K/V
//      (LaunchPrefillAttention); every later call attends to the codes, its own tokens' included
//      (LaunchKv4Attention reads the caches and the staging buffer);
//   3. LaunchKv4Append: the staging groups into the caches (retrieval rows c .. c+T-1, streaming sink
//      and ring slots), after attention, as LaunchKvAppend does for bf16.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace duo {

/** One KV4 cache (K or V): see the layout above. */
struct Kv4Cache {
  uint8_t* codes;   // [rows, heads, d / 2]
  __half2* params;  // [rows, heads]: (scale, zero)
};

/** A KV4 cache that a kernel only reads. */
struct Kv4ConstCache {
  const uint8_t* codes;
  const __half2* params;
};

inline Kv4ConstCache AsConst(const Kv4Cache& cache) { return {cache.codes, cache.params}; }

/** Bytes of one group (codes + scale + zero): d / 2 + 4. */
constexpr int Kv4GroupBytes(int head_dim) { return head_dim / 2 + 4; }

/**
 * Quantizes the keys and values of `tokens` tokens (from qkv: [T, (Hq + 2*Hkv) * d] bf16, keys after
 * RoPE) into `staging_k` / `staging_v`, each [T, Hkv] groups (group t * Hkv + h). head_dim must be
 * 32, 64, 128 or 256; the inputs finite (a non-finite value gives undefined codes for its group).
 * Returns cudaErrorInvalidValue for a bad argument, else the launch error.
 */
cudaError_t LaunchKv4Quantize(const __nv_bfloat16* qkv, int tokens, int num_q_heads, int num_kv_heads,
                              int head_dim, Kv4Cache staging_k, Kv4Cache staging_v, cudaStream_t stream);

/**
 * Copies the staging groups of a call (from LaunchKv4Quantize: [T, Hkv]) into the layer's KV4
 * caches, with LaunchKvAppend's placement: retrieval KV heads [0, Fr) to rows start .. start+T-1 of
 * the retrieval caches ([capacity_r, Fr]); streaming KV heads [Fr, Hkv) to slot p (p < S) or
 * S + (p − S) mod R of the streaming caches ([S + R, Fs]), skipping a token that a later token of
 * the same call overwrites. A group with no heads may have null pointers. Run it after attention
 * has read the caches. Returns cudaErrorInvalidValue for a bad argument, else the launch error.
 */
cudaError_t LaunchKv4Append(Kv4ConstCache staging_k, Kv4ConstCache staging_v, int tokens, int start,
                            int num_kv_heads, int num_retrieval_kv_heads, int head_dim, Kv4Cache retrieval_k,
                            Kv4Cache retrieval_v, Kv4Cache streaming_k, Kv4Cache streaming_v, int sink,
                            int recent, cudaStream_t stream);

}  // namespace duo
