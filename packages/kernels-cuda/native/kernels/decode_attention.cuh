// Decode attention: one new token attends to its heads' cached past plus its own k/v, for the
// retrieval heads (whole retrieval cache) and the streaming heads (sink + recent cache) of a layer,
// in two launches (DESIGN §3, decode row).
//
// Flash-decoding: all (KV head, query-head group) work items are laid end to end as one sequence
// of cache rows, which is cut into equal ranges, one per block of the split kernel (so retrieval
// and streaming heads, long and short pasts, share one balanced grid). A block reads each K/V row
// of its range once for all the query heads that share the KV head, and writes, per item piece it
// covers, an fp32 partial (running max, sum of exponentials, unnormalised output) to the
// workspace. The combine kernel merges the pieces of each query head with the token's own k/v and
// writes bf16 out.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/decode_lengths.cuh"

namespace duo {

/**
 * Optional KV append fused into the combine kernel: after every split block has read the caches
 * (the combine waits for them), the token's own k/v are written where kv_append.cuh would put
 * them (retrieval row `position`; streaming slot `position` < S, else S + (position - S) mod R,
 * nothing when R = 0). Done here, not in RoPE, because the split kernel streams the streaming
 * ring while RoPE still runs, and the slot this token takes holds a row that attention reads.
 */
struct DecodeAppendArgs {
  bool enabled = false;
  __nv_bfloat16* retrieval_k = nullptr;  // [capacity_r, Fr, d]
  __nv_bfloat16* retrieval_v = nullptr;
  __nv_bfloat16* streaming_k = nullptr;  // [S + R, Fs, d]
  __nv_bfloat16* streaming_v = nullptr;
  int sink = 0;
  int recent = 0;
  int position = 0;  // ignored when the lengths come from device memory (DecodeLengths::position)
};

struct DecodeAttentionArgs {
  const __nv_bfloat16* qkv;          // [1, (Hq + 2*Hkv) * d]: this token's q | k | v, q and k after RoPE
  const __nv_bfloat16* retrieval_k;  // [capacity_r, Fr, d]; rows [0, retrieval_len) valid
  const __nv_bfloat16* retrieval_v;
  int retrieval_len;                 // c (tokens before this one); may be 0
  const __nv_bfloat16* streaming_k;  // [S + R, Fs, d]; rows [0, streaming_len) valid
  const __nv_bfloat16* streaming_v;
  int streaming_len;                 // min(c, S + R)
  int num_q_heads, num_kv_heads, num_retrieval_kv_heads, head_dim;  // Fr = num_retrieval_kv_heads, Fs = Hkv - Fr
  float scale;                       // softmax scale, usually 1/sqrt(d)
  __nv_bfloat16* out;                // [Hq * d]
  // When non-null, the lengths are read from device memory at run time (CUDA graph replay), and
  // retrieval_len / streaming_len above are only their upper bounds (checked, and used to size the
  // launch, which is then the same for every length). Results are bit-identical to passing the
  // same lengths by value.
  const DecodeLengths* device_lengths = nullptr;
  DecodeAppendArgs append;  // off by default
};

/**
 * Bytes of workspace that LaunchDecodeAttention may use for this layer shape on a GPU with
 * `num_sms` multiprocessors. The number of split blocks is bounded by a multiple of num_sms, not by
 * the past length, so the bound holds for every retrieval_len (max_retrieval_len is accepted for
 * the interface and does not enlarge it). About 1.7 MB for Llama-3-8B on an H100 (132 SMs).
 */
std::size_t DecodeAttentionWorkspaceBytes(int max_retrieval_len, int num_q_heads, int head_dim, int num_sms);

/**
 * Enqueues decode attention on `stream`. Every pointer must be 16-byte aligned (device memory);
 * the pointers of a group with no heads (or no rows) may be null. `workspace` (16-byte aligned)
 * holds the fp32 partials; if `workspace_bytes` is smaller than DecodeAttentionWorkspaceBytes the
 * launcher uses fewer splits, and returns cudaErrorInvalidValue only if not even one split per
 * item fits. Returns cudaErrorInvalidValue for an unsupported shape (d not in {32, 64, 128}, Hq not
 * a multiple of Hkv, Fr outside [0, Hkv], negative lengths, misaligned pointers), else the launch
 * error. With device_lengths the split grid is sized for the upper bounds (the launch is the same
 * for every length; blocks the plan does not need exit at once) and the workspace is required even
 * when the bounds are 0; the host must keep the lengths in device memory within those bounds.
 */
cudaError_t LaunchDecodeAttention(const DecodeAttentionArgs& args, void* workspace, std::size_t workspace_bytes,
                                  int num_sms, cudaStream_t stream);

}  // namespace duo
