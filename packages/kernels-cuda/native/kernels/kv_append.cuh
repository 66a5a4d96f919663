// Appends one call's keys and values (taken from the layer's qkv activations, keys already
// rotated) to the layer's DuoAttention caches, AFTER attention has read the caches (DESIGN §3):
//   retrieval KV heads [0, Fr):   rows c .. c+T-1 of the token-major retrieval cache;
//   streaming KV heads [Fr, Hkv): the sink + ring cache: position p goes to slot p when p < S,
//     else to slot S + (p - S) mod R.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/decode_lengths.cuh"

namespace duo {

/**
 * Enqueues the append on `stream`. qkv: [tokens, (Hq + 2*Hkv) * d] bf16 (queries, keys, values;
 * heads reordered so KV heads [0, Fr) are retrieval heads, Fr = num_retrieval_kv_heads).
 * retrieval_k/v: [capacity_r, Fr, d] bf16; row c + t receives token t (the host guarantees
 * c + tokens <= capacity_r). streaming_k/v: [S + R, Fs, d] bf16 with Fs = Hkv - Fr, S = sink,
 * R = recent. Token t at position p = c + t is written to its streaming slot only if p < S or
 * p >= max(S, c + tokens - R): a token that a later token of the same call would overwrite is
 * skipped, so no two threads write one slot and the result equals appending the tokens one by one.
 * Either group may be absent: Fr == 0 (retrieval pointers may be null) or Fr == Hkv (streaming
 * pointers may be null). Returns cudaErrorInvalidValue for inconsistent arguments.
 */
cudaError_t LaunchKvAppend(const __nv_bfloat16* qkv, int tokens, int start, int num_q_heads, int num_kv_heads,
                           int num_retrieval_kv_heads, int head_dim, __nv_bfloat16* retrieval_k,
                           __nv_bfloat16* retrieval_v, __nv_bfloat16* streaming_k, __nv_bfloat16* streaming_v,
                           int sink, int recent, cudaStream_t stream);

/**
 * LaunchKvAppend for one token (tokens = 1) whose position is read from device memory at run time,
 * `lengths->position` (a CUDA graph replays it for every token). Bit-identical to LaunchKvAppend
 * with start = that position. The host must keep the position below the retrieval capacity.
 */
cudaError_t LaunchKvAppendAt(const __nv_bfloat16* qkv, const DecodeLengths* lengths, int num_q_heads, int num_kv_heads,
                             int num_retrieval_kv_heads, int head_dim, __nv_bfloat16* retrieval_k,
                             __nv_bfloat16* retrieval_v, __nv_bfloat16* streaming_k, __nv_bfloat16* streaming_v,
                             int sink, int recent, cudaStream_t stream);

}  // namespace duo
