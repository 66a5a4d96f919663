// Attention over a KV4 cache (kv4_cache.cuh) that reads the 4-bit codes directly: no dequantized
// copy of the cache exists anywhere (DESIGN §5); each key and value is dequantized in registers,
// exactly as kv4-codec.ts does (fp16(fp16(code · scale) + zero)), right before the tensor cores use it.
//
// One launch serves decode (T = 1) and every prefill chunk after the first (T >= 1 with a past):
// query token t (0-based in the call) of query head h, KV head h / G, attends to
//   - its group's past: the retrieval cache rows [0, retrieval_len) for a retrieval KV head
//     [0, Fr), or the streaming sink+ring cache rows [0, streaming_len) for a streaming KV head;
//   - this call's own keys 0..t (causal), as codes in the staging buffer that LaunchKv4Quantize
//     wrote (the reference executor attends to its own tokens' codes too).
// A sequence's first chunk (no past) attends to the exact bf16 K/V instead: LaunchPrefillAttention,
// then LaunchKv4Quantize + LaunchKv4Append (kv4_cache.cuh's step list).
//
// Work: an item is (KV head, a tile of 16 query rows sharing it: up to 16 / GH tokens x GH query
// heads, GH the largest divisor of G <= 16). Items' keys are laid end to end and cut into equal
// ranges, one per block (flash-decoding, as decode_attention.cu), so decode's few long retrieval
// items and prefill's many short ones both fill the GPU. Each of a block's 4 warps takes 16-key
// tiles in turn: S = Q K^T and O += P V on mma.sync m16n8k16 (fp16 inputs, fp32 accumulation),
// online softmax in fp32. A block writes an item it holds whole straight to `out`; pieces of items
// split between blocks go to the workspace as fp32 partials, merged by a combine kernel.
//
// Precision: keys and values are the codec's exact fp16 dequantizations; q is rounded to fp16
// (exact for bf16 values of magnitude in [2^-14, 65504]); P is rounded to fp16 for the P V product;
// scores, softmax and sums are fp32; the output is bf16.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/kv4_cache.cuh"

namespace duo {

struct Kv4AttentionArgs {
  const __nv_bfloat16* qkv;      // [T, (Hq + 2*Hkv) * d]: q read (after RoPE); k, v are in chunk_k/v
  int tokens;                    // T >= 1 (0 is a no-op)
  Kv4ConstCache retrieval_k;     // [capacity_r, Fr] groups; rows [0, retrieval_len) = the past
  Kv4ConstCache retrieval_v;
  int retrieval_len;
  Kv4ConstCache streaming_k;     // [S + R, Fs] groups; rows [0, streaming_len) = the streaming past
  Kv4ConstCache streaming_v;
  int streaming_len;
  Kv4ConstCache chunk_k;         // [T, Hkv] groups: this call's K/V (LaunchKv4Quantize)
  Kv4ConstCache chunk_v;
  int num_q_heads, num_kv_heads, num_retrieval_kv_heads, head_dim;
  float scale;                   // softmax scale, usually 1/sqrt(d)
  __nv_bfloat16* out;            // [T, Hq * d]
};

/**
 * Bytes of workspace LaunchKv4Attention uses at most on a GPU with `num_sms` multiprocessors, for
 * any lengths (the split count depends on num_sms, not on the past). About 4.4 MB at d = 128 on 132
 * SMs (two fp32 partials of 16 query rows per block). With less, the launcher uses fewer blocks; with
 * none, a single block (correct, and slow).
 */
std::size_t Kv4AttentionWorkspaceBytes(int num_q_heads, int num_kv_heads, int head_dim, int num_sms);

/**
 * Enqueues the attention on `stream`. head_dim must be 32, 64 or 128; Hq a multiple of Hkv; code
 * pointers 16-byte and param pointers 4-byte aligned; the pointers of a group with no heads may be
 * null. Returns cudaErrorInvalidValue for a bad argument, else the launch error.
 */
cudaError_t LaunchKv4Attention(const Kv4AttentionArgs& args, void* workspace, std::size_t workspace_bytes,
                               int num_sms, cudaStream_t stream);

}  // namespace duo
