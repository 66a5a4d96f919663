// Attention of gate training's student streaming heads (DESIGN §3): every query head attends under
// the training mask, token-level Lambda (key j visible to query i iff j <= i and (j < S or
// j > i - R)) or the original's block version, over one whole sequence at positions 0..T-1. The
// forward writes the output and each row's log-sum-exp; the backward recomputes the probabilities
// from them (FlashAttention-2 style) and produces dQ, dK and dV. Plain C++: the kernels live in
// training_attention.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

namespace duo {

/** The training streaming mask (core's TrainingStreamingMask). */
struct TrainingMask {
  int kind = 0;    // 0: token level, 1: blocks
  int sink = 0;    // S
  int recent = 1;  // R >= 1
  int block = 128;  // B, for kind 1
};

/** First key past the sink part. */
__host__ __device__ inline int MaskSinkEnd(const TrainingMask& m) {
  return m.kind == 0 ? m.sink : ((m.sink + m.block - 1) / m.block) * m.block;
}

/** First key of query i's recent part (may be negative). */
__host__ __device__ inline int MaskRecentStart(const TrainingMask& m, int i) {
  return m.kind == 0 ? i - m.recent + 1 : (i / m.block - (m.recent + m.block - 1) / m.block + 1) * m.block;
}

__host__ __device__ inline bool MaskVisible(const TrainingMask& m, int i, int j) {
  return j <= i && (j < MaskSinkEnd(m) || j >= MaskRecentStart(m, i));
}

/** The last query that sees some key of [k0, k1] (the sink part is seen by every later query). */
__host__ __device__ inline int MaskLastQuery(const TrainingMask& m, int k0, int k1, int tokens) {
  if (k0 < MaskSinkEnd(m)) return tokens - 1;
  const int last = m.kind == 0 ? k1 + m.recent - 1 : (k1 / m.block + (m.recent + m.block - 1) / m.block) * m.block - 1;
  return last < tokens - 1 ? last : tokens - 1;
}

struct TrainingAttentionArgs {
  const __nv_bfloat16* qkv;  // [T, (Hq + 2 Hkv) d]: q | k | v, q and k after RoPE
  int tokens;                // T >= 1
  int num_q_heads, num_kv_heads, head_dim;
  float scale;               // 1/sqrt(d)
  TrainingMask mask;
};

/** Query and key blocks of the training attention kernels. */
constexpr int kTrainingAttentionBlock = 64;

/**
 * Forward: out [T, Hq d] bf16 and lse [Hq, T] f32, the log2-domain log-sum-exp of each row's
 * scaled scores (scale * log2(e) * q.k). head_dim 16, 32, 64 or 128.
 */
cudaError_t LaunchTrainingAttentionForward(const TrainingAttentionArgs& args, __nv_bfloat16* out, float* lse,
                                           cudaStream_t stream);

/**
 * One unit of dK/dV work: key block `key_block` against query blocks [query_begin, query_end).
 * The host builds the list (TrainingAttentionWorkItems) so that the sink's key blocks, which every
 * later query sees, are split over several CTAs instead of one CTA walking the whole sequence.
 */
struct TrainingAttentionWorkItem {
  int key_block;
  int query_begin;
  int query_end;
};

/** The dK/dV work list of a sequence of `tokens` tokens (query blocks per item at most `max_blocks`). */
std::vector<TrainingAttentionWorkItem> TrainingAttentionWorkItems(const TrainingMask& mask, int tokens,
                                                                 int max_blocks = 16);

/**
 * Backward. out, lse: the forward's; dout: d(loss)/d(out) [T, Hq d] bf16. delta: workspace
 * [Hq, T] f32. dq: [T, Hq d] f32 (written); dk, dv: [T, Hkv d] f32 (zeroed here, then accumulated).
 * items: device copy of TrainingAttentionWorkItems(args.mask, args.tokens), num_items of them.
 */
cudaError_t LaunchTrainingAttentionBackward(const TrainingAttentionArgs& args, const __nv_bfloat16* out,
                                            const float* lse, const __nv_bfloat16* dout, float* delta, float* dq,
                                            float* dk, float* dv, const TrainingAttentionWorkItem* items,
                                            int num_items, cudaStream_t stream);

}  // namespace duo
