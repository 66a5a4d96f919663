// Flash-style prefill attention for one chunk of T new tokens, retrieval and streaming heads in one
// launch (DESIGN §3). Query i of the chunk (0-based) of query head h (KV head h / G) sees every
// past row of its group's cache and the chunk's own keys 0..i (causal). Retrieval KV heads are
// [0, Fr), streaming KV heads [Fr, Hkv); a group may be empty (its pointers may then be null).
// Plain C++: the kernels live in prefill_attention.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace duo {

struct PrefillAttentionArgs {
  const __nv_bfloat16* qkv;          // [T, (Hq + 2*Hkv) * d]: q | k | v of this chunk's tokens, q and k after RoPE
  int tokens;                        // T >= 1 (0 is a no-op)
  const __nv_bfloat16* retrieval_k;  // [capacity_r, Fr, d]; rows [0, retrieval_len) = the past
  const __nv_bfloat16* retrieval_v;
  int retrieval_len;                 // c (tokens before this chunk)
  const __nv_bfloat16* streaming_k;  // [S + R, Fs, d]; rows [0, streaming_len) = the streaming past
  const __nv_bfloat16* streaming_v;
  int streaming_len;                 // min(c, S + R)
  int num_q_heads, num_kv_heads, num_retrieval_kv_heads, head_dim;
  float scale;                       // usually 1/sqrt(d); must be > 0
  __nv_bfloat16* out;                // [T, Hq * d]
};

/**
 * Enqueues prefill attention on `stream`. head_dim must be 16, 32, 64 or 128; num_q_heads a multiple
 * of num_kv_heads; every non-null pointer 16-byte aligned. Returns cudaErrorInvalidValue for a bad
 * argument, else the launch error; errors during execution surface at the next synchronisation.
 */
cudaError_t LaunchPrefillAttention(const PrefillAttentionArgs& args, cudaStream_t stream);

// ---- for the checks only: every kernel configuration, so one device run can compare them --------

/** Kernel configurations for `head_dim` (0 for an unsupported one); d = 16, 32, 64 have one each. */
int PrefillAttentionVariantCount(int head_dim);

/** The variant LaunchPrefillAttention uses for `head_dim`. */
int PrefillAttentionDefaultVariant(int head_dim);

/** A short name of variant `variant` for `head_dim` (e.g. "v2_w4_r32_bc32_s3_qsmem"), or nullptr. */
const char* PrefillAttentionVariantName(int head_dim, int variant);

/**
 * LaunchPrefillAttention with configuration `variant` (0 .. PrefillAttentionVariantCount - 1):
 * cudaErrorInvalidValue for a variant that does not exist for args.head_dim (or any bad argument),
 * cudaErrorNotSupported when it needs more shared memory per block than this GPU has (nothing is
 * launched then; LaunchPrefillAttention falls back to variant 0, which fits every target GPU).
 */
cudaError_t LaunchPrefillAttentionVariant(const PrefillAttentionArgs& args, int variant, cudaStream_t stream);

}  // namespace duo
