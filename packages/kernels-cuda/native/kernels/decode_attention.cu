// Decode attention (see decode_attention.cuh for the plan). Memory-bound: the floor is the bytes of
// the valid K/V rows, so the split kernel streams them through shared memory with cp.async (three
// stages per warp, 2 KiB per stage, ~64 KiB in flight per SM) and reads each row once for all the
// query heads that share its KV head.
#include "kernels/decode_attention.cuh"

#include "kernels/dependent_launch.cuh"

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

namespace duo {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
// Measured on an H100: 3 x 2 KiB stages, 6 x 1 KiB and 4 x 2 KiB all run within 1-2% of each other;
// the loads in flight (~64 KiB per SM) already cover the memory latency.
constexpr int kStages = 3;
constexpr int kStageBytesPerWarp = 2048;  // K tile + V tile of one warp's rows for one step
constexpr int kSmemBytes = kWarps * kStages * kStageBytesPerWarp;
// Fewer rows than this per block and the fixed cost of a piece (q load, merge, partial write)
// outweighs its reads.
constexpr long long kMinRowsPerBlock = 64;
constexpr int kCombineThreads = 512;
constexpr int kCombineRows = kCombineThreads / 8;  // pieces merged side by side
constexpr float kLog2e = 1.4426950408889634f;

/** Query heads per work item: the largest of 8, 4, 2, 1 dividing G (G = 4 for Llama: all of them). */
int GroupTile(int group) {
  for (int tile = 8; tile > 1; tile >>= 1)
    if (group % tile == 0) return tile;
  return 1;
}

/** Resident blocks per SM the split kernel is built for (its __launch_bounds__ minimum). */
constexpr int MinBlocksPerSm(int group_tile) { return group_tile >= 8 ? 3 : 4; }

/** fp32 partials of one slot: GT query heads x (d accumulators + max + sum). */
std::size_t SlotBytes(int group_tile, int head_dim) {
  return static_cast<std::size_t>(group_tile) * (head_dim + 2) * sizeof(float);
}

struct SplitParams {
  const __nv_bfloat16* qkv;
  const __nv_bfloat16* retrieval_k;
  const __nv_bfloat16* retrieval_v;
  const __nv_bfloat16* streaming_k;
  const __nv_bfloat16* streaming_v;
  int retrieval_heads;  // Fr
  int streaming_heads;  // Fs
  int retrieval_len;    // 0 when Fr = 0
  int streaming_len;    // 0 when Fs = 0
  int group;            // G
  int item_groups;      // QG = G / GT: items per KV head
  int num_q_heads;
  int num_kv_heads;
  int retrieval_items;  // Fr * QG; item i covers KV head i / QG, query heads (i % QG) * GT .. + GT
  long long retrieval_rows;  // retrieval_items * retrieval_len: rows of all items laid end to end
  long long total_rows;
  int rows_per_block;  // L: block b covers rows [b L, (b + 1) L); the piece of item i it covers is slot b + i
  float q_scale;       // scale * log2(e): scores come out in log2 units for exp2f
  float* partial_acc;  // [slots][GT][d]
  float* partial_ml;   // [slots][GT][2]: running max (log2 units), sum of 2^(s - max)
  // Only for launches whose lengths are read on the device (DecodeAttentionArgs::device_lengths):
  // every length-dependent field above is then recomputed in the kernels by PlanSplits.
  const DecodeLengths* lengths;
  int items;       // Hkv * QG
  int max_blocks;  // the split grid; the plan may use fewer blocks, the rest exit
  int blocks;      // the plan's blocks (PlanSplits sets it)
};

/**
 * The split plan for given lengths, shared by the host launcher and (for device lengths) the
 * kernels, so both derive exactly the same ranges and slots: one wave of equal ranges over at most
 * `max_blocks` blocks, none under kMinRowsPerBlock rows, no empty block. Returns the rows per
 * block before narrowing to int (the host checks it fits).
 */
__host__ __device__ __forceinline__ long long PlanSplits(SplitParams& p, int retrieval_len, int streaming_len,
                                                         long long max_blocks, int group_tile, int head_dim,
                                                         float* workspace) {
  p.retrieval_len = p.retrieval_heads > 0 ? retrieval_len : 0;
  p.streaming_len = p.streaming_heads > 0 ? streaming_len : 0;
  p.retrieval_rows = static_cast<long long>(p.retrieval_items) * p.retrieval_len;
  p.total_rows = p.retrieval_rows + static_cast<long long>(p.items - p.retrieval_items) * p.streaming_len;
  p.rows_per_block = 1;
  p.blocks = 0;
  if (p.total_rows <= 0) return 1;
  long long blocks = max_blocks;
  const long long by_size = (p.total_rows + kMinRowsPerBlock - 1) / kMinRowsPerBlock;
  if (by_size < blocks) blocks = by_size;
  const long long rows_per_block = (p.total_rows + blocks - 1) / blocks;
  blocks = (p.total_rows + rows_per_block - 1) / rows_per_block;  // no empty block
  p.rows_per_block = static_cast<int>(rows_per_block);
  p.blocks = static_cast<int>(blocks);
  const long long slots = blocks + p.items;  // slot b + i, b < blocks, i < items
  p.partial_acc = workspace;
  p.partial_ml = workspace + static_cast<std::size_t>(slots) * group_tile * head_dim;
  return rows_per_block;
}

/** The device-lengths launches' params: the plan of the lengths in device memory. */
__device__ __forceinline__ SplitParams ResolveDeviceLengths(const SplitParams& params, int group_tile, int head_dim) {
  SplitParams p = params;
  const DecodeLengths lengths = *params.lengths;
  PlanSplits(p, lengths.retrieval_len, lengths.streaming_len, params.max_blocks, group_tile, head_dim,
             params.partial_acc);
  return p;
}

__device__ __forceinline__ void Unpack8(const uint4& packed, float (&out)[8]) {
  const unsigned words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(words[i] << 16);  // lower address = low half (little endian)
    out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

/** 16-byte global -> shared copy that bypasses L1; when !valid it reads nothing and writes zeros. */
__device__ __forceinline__ void CpAsync16(void* shared, const void* global, bool valid) {
  const unsigned shared_address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  const std::size_t global_address = __cvta_generic_to_global(global);
  const int source_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address), "l"(global_address),
               "r"(source_bytes)
               : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// The split kernel lets the combine kernel be scheduled as soon as every split block has started
// (kernels/dependent_launch.cuh); the combine does its prologue (the token's own score) before it
// waits for the split grid to finish and flush.

/** exp2 of a - base where base = max and may be -inf (then everything is an empty state: 0). */
__device__ __forceinline__ float SafeBase(float max_value) { return max_value == -INFINITY ? 0.0f : max_value; }

/**
 * The split kernel. Within a warp, kLanes = d/8 lanes hold one row (8 elements, 16 bytes each) and
 * the warp's kGroups = 32/kLanes lane groups hold different rows, each group with its own online
 * softmax state for the GT query heads; a step covers kRowsW = 512/d rows per warp (kUnroll = 2 per
 * group). States are merged across groups (shuffles), then across warps (shared memory) at the end
 * of each item piece.
 */
template <int D, int GT>
__device__ __forceinline__ void DecodeSplit(const SplitParams& p) {
  constexpr int kLanes = D / 8;
  constexpr int kGroups = 32 / kLanes;
  constexpr int kRowsW = kStageBytesPerWarp / (2 * D * 2);  // rows per warp per step
  constexpr int kUnroll = kRowsW / kGroups;
  constexpr int kRowsBlock = kWarps * kRowsW;
  constexpr int kCopiesPerLane = kRowsW * kLanes / 32;  // 16-byte chunks of one tile per lane
  constexpr int kTileElems = kRowsW * D;
  static_assert(kUnroll * kGroups == kRowsW && kCopiesPerLane * 32 == kRowsW * kLanes, "tile shape");
  static_assert(kWarps * GT * (D + 2) * 4 <= kSmemBytes, "merge scratch must fit in the tile buffers");

  __shared__ __align__(16) unsigned char smem[kSmemBytes];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int grp = lane / kLanes;
  const int sub = lane % kLanes;
  // Per warp: kStages x [K tile | V tile], each [kRowsW][D] bf16. Reused as merge scratch.
  __nv_bfloat16* const tiles = reinterpret_cast<__nv_bfloat16*>(smem) + warp * kStages * 2 * kTileElems;
  float* const merge_acc = reinterpret_cast<float*>(smem);     // [kWarps][GT][D]
  float* const merge_ml = merge_acc + kWarps * GT * D;         // [kWarps][GT][2]

  bool released = false;  // waited for the kernel that wrote q, and let the combine launch
  const long long start = static_cast<long long>(blockIdx.x) * p.rows_per_block;
  const long long end = min(start + p.rows_per_block, p.total_rows);
  long long x = start;
  while (x < end) {  // uniform over the block: one iteration per item piece
    int item;
    long long item_offset;
    int item_len;
    bool retrieval;
    if (x < p.retrieval_rows) {  // implies retrieval_len > 0
      item = static_cast<int>(x / p.retrieval_len);
      item_offset = static_cast<long long>(item) * p.retrieval_len;
      item_len = p.retrieval_len;
      retrieval = true;
    } else {  // implies streaming_len > 0
      const int j = static_cast<int>((x - p.retrieval_rows) / p.streaming_len);
      item = p.retrieval_items + j;
      item_offset = p.retrieval_rows + static_cast<long long>(j) * p.streaming_len;
      item_len = p.streaming_len;
      retrieval = false;
    }
    const int t0 = static_cast<int>(x - item_offset);
    const int t1 = static_cast<int>(min(static_cast<long long>(item_len), end - item_offset));  // > t0
    const int kv_head = item / p.item_groups;  // retrieval KV heads come first, as the items do
    const int q_group = item - kv_head * p.item_groups;
    const int heads = retrieval ? p.retrieval_heads : p.streaming_heads;
    const int head_local = retrieval ? kv_head : kv_head - p.retrieval_heads;
    const __nv_bfloat16* const k_cache = retrieval ? p.retrieval_k : p.streaming_k;
    const __nv_bfloat16* const v_cache = retrieval ? p.retrieval_v : p.streaming_v;

    const int steps = (t1 - t0 + kRowsBlock - 1) / kRowsBlock;
    const int warp_row0 = t0 + warp * kRowsW;  // row of tile row 0 at step 0
    auto issue = [&](int step) {
      __nv_bfloat16* const k_tile = tiles + (step % kStages) * 2 * kTileElems;
      __nv_bfloat16* const v_tile = k_tile + kTileElems;
#pragma unroll
      for (int c = 0; c < kCopiesPerLane; ++c) {
        const int chunk = lane + 32 * c;
        const int r = chunk / kLanes;
        const int col = chunk % kLanes;
        const int t = warp_row0 + step * kRowsBlock + r;
        const bool valid = t < t1;
        // Rows past the piece are zero-filled from a valid address that is never read.
        const std::size_t offset = (static_cast<std::size_t>(valid ? t : t0) * heads + head_local) * D + col * 8;
        CpAsync16(k_tile + r * D + col * 8, k_cache + offset, valid);
        CpAsync16(v_tile + r * D + col * 8, v_cache + offset, valid);
      }
    };
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < steps) issue(s);
      CpAsyncCommit();  // always, so that group n is the n-th commit
    }

    // The cache rows above do not depend on the kernel before this one (RoPE, which writes q); q
    // does. Only after that wait may the combine start: its prologue reads this token's k and v.
    if (!released) {
      WaitForPrerequisiteGrid();
      AllowDependentLaunch();
      released = true;
    }
    // This lane's 8 dims of the GT queries, prescaled so that q.k is the score in log2 units
    // (loaded while the first tiles are in flight).
    float q[GT][8];
    const __nv_bfloat16* const q_ptr = p.qkv + (static_cast<std::size_t>(kv_head) * p.group + q_group * GT) * D + sub * 8;
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      Unpack8(__ldg(reinterpret_cast<const uint4*>(q_ptr + g * D)), q[g]);
#pragma unroll
      for (int e = 0; e < 8; ++e) q[g][e] *= p.q_scale;
    }
    float m[GT];
    float l[GT];
    float acc[GT][8];
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      m[g] = -INFINITY;
      l[g] = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[g][e] = 0.0f;
    }
    for (int step = 0; step < steps; ++step) {
      CpAsyncWait<kStages - 2>();  // this lane's copies of step `step` have landed...
      __syncwarp();                // ...and every lane's have; every lane is also done with step - 1
      if (step + kStages - 1 < steps) issue(step + kStages - 1);  // into the buffer of step - 1
      CpAsyncCommit();
      const __nv_bfloat16* const k_tile = tiles + (step % kStages) * 2 * kTileElems;
      const __nv_bfloat16* const v_tile = k_tile + kTileElems;
      const int row0 = warp_row0 + step * kRowsBlock;

      float s[kUnroll][GT];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int r = u * kGroups + grp;
        float k[8];
        Unpack8(*reinterpret_cast<const uint4*>(k_tile + r * D + sub * 8), k);
#pragma unroll
        for (int g = 0; g < GT; ++g) {
          float dot = 0.0f;
#pragma unroll
          for (int e = 0; e < 8; ++e) dot = fmaf(q[g][e], k[e], dot);
#pragma unroll
          for (int offset = kLanes / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
          s[u][g] = row0 + r < t1 ? dot : -INFINITY;
        }
      }
#pragma unroll
      for (int g = 0; g < GT; ++g) {
        float m_new = m[g];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) m_new = fmaxf(m_new, s[u][g]);
        const float base = SafeBase(m_new);
        const float alpha = exp2f(m[g] - base);
        l[g] *= alpha;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] *= alpha;
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          s[u][g] = exp2f(s[u][g] - base);  // now the weight; 0 for masked rows
          l[g] += s[u][g];
        }
        m[g] = m_new;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int r = u * kGroups + grp;
        float v[8];
        Unpack8(*reinterpret_cast<const uint4*>(v_tile + r * D + sub * 8), v);  // zeros when masked
#pragma unroll
        for (int g = 0; g < GT; ++g) {
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[g][e] = fmaf(s[u][g], v[e], acc[g][e]);
        }
      }
    }
    CpAsyncWait<0>();

    // Merge the lane groups of the warp (same dims, different rows).
#pragma unroll
    for (int offset = kLanes; offset < 32; offset <<= 1) {
#pragma unroll
      for (int g = 0; g < GT; ++g) {
        const float m_other = __shfl_xor_sync(0xffffffffu, m[g], offset);
        const float l_other = __shfl_xor_sync(0xffffffffu, l[g], offset);
        const float m_new = fmaxf(m[g], m_other);
        const float base = SafeBase(m_new);
        const float a = exp2f(m[g] - base);
        const float b = exp2f(m_other - base);
        l[g] = l[g] * a + l_other * b;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] = acc[g][e] * a + __shfl_xor_sync(0xffffffffu, acc[g][e], offset) * b;
        m[g] = m_new;
      }
    }
    __syncthreads();  // every warp is done with its tiles before they become merge scratch
    if (grp == 0) {
#pragma unroll
      for (int g = 0; g < GT; ++g) {
        float* const dst = merge_acc + (warp * GT + g) * D + sub * 8;
        reinterpret_cast<float4*>(dst)[0] = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
        reinterpret_cast<float4*>(dst)[1] = make_float4(acc[g][4], acc[g][5], acc[g][6], acc[g][7]);
        if (sub == 0) {
          merge_ml[(warp * GT + g) * 2] = m[g];
          merge_ml[(warp * GT + g) * 2 + 1] = l[g];
        }
      }
    }
    __syncthreads();
    const std::size_t slot = static_cast<std::size_t>(blockIdx.x) + item;
    for (int idx = threadIdx.x; idx < GT * D; idx += kThreads) {
      const int g = idx / D;
      const int dim = idx - g * D;
      float m_all = -INFINITY;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, merge_ml[(w * GT + g) * 2]);
      // The piece has at least one row, so m_all is finite.
      float a = 0.0f;
      float l_all = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float weight = exp2f(merge_ml[(w * GT + g) * 2] - m_all);
        a = fmaf(merge_acc[(w * GT + g) * D + dim], weight, a);
        l_all = fmaf(merge_ml[(w * GT + g) * 2 + 1], weight, l_all);
      }
      p.partial_acc[(slot * GT + g) * D + dim] = a;
      if (dim == 0) {
        p.partial_ml[(slot * GT + g) * 2] = m_all;
        p.partial_ml[(slot * GT + g) * 2 + 1] = l_all;
      }
    }
    __syncthreads();  // scratch reads done before the next piece's copies overwrite it
    x = item_offset + t1;
  }
}

/**
 * The split kernel's entry. With device lengths the grid is params.max_blocks whatever the
 * lengths: blocks past the plan's only wait for the kernel before (so that the combine, which reads
 * this token's q/k/v once every split block has started or exited, never runs ahead of RoPE) and
 * exit.
 */
template <int D, int GT, bool kDeviceLengths>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm(GT)) DecodeSplitKernel(const SplitParams params) {
  if constexpr (kDeviceLengths) {
    const SplitParams p = ResolveDeviceLengths(params, GT, D);
    if (static_cast<int>(blockIdx.x) >= p.blocks) {
      WaitForPrerequisiteGrid();
      return;
    }
    DecodeSplit<D, GT>(p);
  } else {
    DecodeSplit<D, GT>(params);
  }
}

/** The fused KV append of one 32-dim slice of the token's k and v (32 threads; see DecodeAppendArgs). */
template <int D>
__device__ __forceinline__ void AppendOwnKv(const DecodeAppendArgs& a, int position, int kv_head, int fr, int fs,
                                            int slice, const __nv_bfloat16* k_row, const __nv_bfloat16* v_row) {
  std::size_t row;
  __nv_bfloat16* k_cache;
  __nv_bfloat16* v_cache;
  if (kv_head < fr) {
    row = static_cast<std::size_t>(position) * fr + kv_head;
    k_cache = a.retrieval_k;
    v_cache = a.retrieval_v;
  } else {
    long long slot;
    if (position < a.sink) {
      slot = position;
    } else if (a.recent > 0) {
      slot = a.sink + (static_cast<long long>(position) - a.sink) % a.recent;
    } else {
      return;  // no ring: only sinks are kept
    }
    row = static_cast<std::size_t>(slot) * fs + (kv_head - fr);
    k_cache = a.streaming_k;
    v_cache = a.streaming_v;
  }
  const int dim = slice * 32 + static_cast<int>(threadIdx.x);
  k_cache[row * D + dim] = k_row[dim];
  v_cache[row * D + dim] = v_row[dim];
}

/**
 * One block per (32-dim slice, query head): merges the head's pieces (8 threads of float4 per
 * piece, kCombineRows = 64 pieces side by side, 8 loads in flight per thread, so up to 512 pieces
 * in one memory round trip) with the token's own key/value, and writes 32 bf16 outputs. It is
 * latency-bound (~4 us exposed on an H100, 2 us less with the programmatic launch).
 */
template <int D, bool kAppend>
__device__ __forceinline__ void DecodeCombine(const SplitParams& p, int group_tile, __nv_bfloat16* __restrict__ out,
                                              const DecodeAppendArgs& append, int position) {
  __shared__ float piece_m[kCombineRows];
  __shared__ float piece_l[kCombineRows];
  __shared__ __align__(16) float piece_acc[kCombineRows][32];
  const int head = blockIdx.y;
  const int slice = blockIdx.x;
  const int kv_head = head / p.group;
  const int within = head - kv_head * p.group;
  const int q_group = within / group_tile;
  const int g = within - q_group * group_tile;
  const int item = kv_head * p.item_groups + q_group;
  long long item_offset;
  int item_len;
  if (item < p.retrieval_items) {
    item_offset = static_cast<long long>(item) * p.retrieval_len;
    item_len = p.retrieval_len;
  } else {
    item_offset = p.retrieval_rows + static_cast<long long>(item - p.retrieval_items) * p.streaming_len;
    item_len = p.streaming_len;
  }
  int pieces = 0;
  long long first_slot = 0;
  if (item_len > 0) {
    const long long first_block = item_offset / p.rows_per_block;
    const long long last_block = (item_offset + item_len - 1) / p.rows_per_block;
    pieces = static_cast<int>(last_block - first_block + 1);
    first_slot = first_block + item;
  }

  // Score of the token's own key, in log2 units (every warp computes it; it is 1 row).
  const int lane = threadIdx.x & 31;
  const __nv_bfloat16* const q_row = p.qkv + static_cast<std::size_t>(head) * D;
  const __nv_bfloat16* const k_row = p.qkv + static_cast<std::size_t>(p.num_q_heads + kv_head) * D;
  const __nv_bfloat16* const v_row = p.qkv + static_cast<std::size_t>(p.num_q_heads + p.num_kv_heads + kv_head) * D;
  float dot = 0.0f;
#pragma unroll
  for (int e = lane; e < D; e += 32) dot = fmaf(__bfloat162float(q_row[e]) * p.q_scale, __bfloat162float(k_row[e]), dot);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
  const float self_score = dot;
  WaitForPrerequisiteGrid();  // the partials below come from the split kernel
  if constexpr (kAppend) {
    // Every split block has read the caches: the token's k/v may take their slot now. One block
    // per KV head and slice writes (the first query head of the group).
    if (within == 0 && threadIdx.x < 32) {
      AppendOwnKv<D>(append, position, kv_head, p.retrieval_heads, p.streaming_heads, slice, k_row, v_row);
    }
  }

  const int r = threadIdx.x / 8;  // pieces r, r + kCombineRows, ...
  const int c = threadIdx.x % 8;  // float4 column within the slice
  float m = -INFINITY;
  float l = 0.0f;
  float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  constexpr int kBatch = 8;
  for (int base_piece = r; base_piece < pieces; base_piece += kCombineRows * kBatch) {
    float4 acc_in[kBatch];
    float2 ml_in[kBatch];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int piece = base_piece + kCombineRows * u;
      if (piece < pieces) {
        const std::size_t slot = static_cast<std::size_t>(first_slot + piece);
        acc_in[u] = __ldg(reinterpret_cast<const float4*>(p.partial_acc + (slot * group_tile + g) * D + slice * 32 + c * 4));
        ml_in[u] = __ldg(reinterpret_cast<const float2*>(p.partial_ml + (slot * group_tile + g) * 2));
      } else {
        acc_in[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        ml_in[u] = make_float2(-INFINITY, 0.0f);
      }
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const float m_new = fmaxf(m, ml_in[u].x);
      const float base = SafeBase(m_new);
      const float wa = exp2f(m - base);
      const float wb = exp2f(ml_in[u].x - base);
      l = l * wa + ml_in[u].y * wb;
      a.x = a.x * wa + acc_in[u].x * wb;
      a.y = a.y * wa + acc_in[u].y * wb;
      a.z = a.z * wa + acc_in[u].z * wb;
      a.w = a.w * wa + acc_in[u].w * wb;
      m = m_new;
    }
  }
  if (c == 0) {
    piece_m[r] = m;
    piece_l[r] = l;
  }
  *reinterpret_cast<float4*>(&piece_acc[r][c * 4]) = a;
  __syncthreads();
  if (threadIdx.x < 32) {
    const int col = threadIdx.x;
    const int dim = slice * 32 + col;
    float m_all = self_score;
#pragma unroll 8
    for (int i = 0; i < kCombineRows; ++i) m_all = fmaxf(m_all, piece_m[i]);
    const float self_weight = exp2f(self_score - m_all);
    float numerator = self_weight * __bfloat162float(v_row[dim]);
    float denominator = self_weight;
#pragma unroll 8
    for (int i = 0; i < kCombineRows; ++i) {
      const float weight = exp2f(piece_m[i] - m_all);  // 0 for empty rows (-inf)
      numerator = fmaf(piece_acc[i][col], weight, numerator);
      denominator = fmaf(piece_l[i], weight, denominator);
    }
    out[static_cast<std::size_t>(head) * D + dim] = __float2bfloat16_rn(numerator / denominator);
  }
}

template <int D, bool kDeviceLengths, bool kAppend>
__global__ void __launch_bounds__(kCombineThreads)
    DecodeCombineKernel(const SplitParams params, int group_tile, __nv_bfloat16* __restrict__ out,
                        const DecodeAppendArgs append) {
  if constexpr (kDeviceLengths) {
    const SplitParams p = ResolveDeviceLengths(params, group_tile, D);
    DecodeCombine<D, kAppend>(p, group_tile, out, append, params.lengths->position);
  } else {
    DecodeCombine<D, kAppend>(params, group_tile, out, append, append.position);
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

template <int D, int GT>
void LaunchSplit(const SplitParams& params, bool device_lengths, int blocks, cudaStream_t stream) {
  // A dependent launch: the first K/V tiles stream while the kernel before (RoPE) finishes.
  // Errors surface in cudaGetLastError.
  if (device_lengths) {
    LaunchAsDependent(DecodeSplitKernel<D, GT, true>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream,
                      params);
  } else {
    LaunchAsDependent(DecodeSplitKernel<D, GT, false>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0,
                      stream, params);
  }
}

template <int D>
void LaunchSplitForTile(const SplitParams& params, bool device_lengths, int group_tile, int blocks,
                        cudaStream_t stream) {
  switch (group_tile) {
    case 8: LaunchSplit<D, 8>(params, device_lengths, blocks, stream); break;
    case 4: LaunchSplit<D, 4>(params, device_lengths, blocks, stream); break;
    case 2: LaunchSplit<D, 2>(params, device_lengths, blocks, stream); break;
    default: LaunchSplit<D, 1>(params, device_lengths, blocks, stream); break;
  }
}

template <int D>
cudaError_t LaunchCombine(const cudaLaunchConfig_t& config, const SplitParams& params, int group_tile,
                          __nv_bfloat16* out, const DecodeAppendArgs& append, bool device_lengths) {
  if (device_lengths) {
    return append.enabled
               ? cudaLaunchKernelEx(&config, DecodeCombineKernel<D, true, true>, params, group_tile, out, append)
               : cudaLaunchKernelEx(&config, DecodeCombineKernel<D, true, false>, params, group_tile, out, append);
  }
  return append.enabled
             ? cudaLaunchKernelEx(&config, DecodeCombineKernel<D, false, true>, params, group_tile, out, append)
             : cudaLaunchKernelEx(&config, DecodeCombineKernel<D, false, false>, params, group_tile, out, append);
}

}  // namespace

std::size_t DecodeAttentionWorkspaceBytes(int max_retrieval_len, int num_q_heads, int head_dim, int num_sms) {
  (void)max_retrieval_len;  // the split count is bounded by num_sms, whatever the past length
  if (num_q_heads <= 0 || head_dim <= 0 || num_sms <= 0) return 0;
  // Slots = blocks + items <= MinBlocksPerSm(GT) * num_sms + Hq / GT, each GT * (d + 2) floats:
  // at most max over GT of MinBlocksPerSm(GT) * GT * num_sms + Hq partial rows.
  std::size_t rows_per_sm = 0;
  for (int tile = 1; tile <= 8; tile <<= 1) {
    const std::size_t rows = static_cast<std::size_t>(MinBlocksPerSm(tile)) * tile;
    if (rows > rows_per_sm) rows_per_sm = rows;
  }
  const std::size_t partial_rows = rows_per_sm * num_sms + num_q_heads;
  return partial_rows * (head_dim + 2) * sizeof(float);
}

cudaError_t LaunchDecodeAttention(const DecodeAttentionArgs& args, void* workspace, std::size_t workspace_bytes,
                                  int num_sms, cudaStream_t stream) {
  const int hq = args.num_q_heads;
  const int hkv = args.num_kv_heads;
  const int fr = args.num_retrieval_kv_heads;
  const int d = args.head_dim;
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0 || fr < 0 || fr > hkv || hq > 65535) return cudaErrorInvalidValue;
  if (d != 32 && d != 64 && d != 128) return cudaErrorInvalidValue;
  if (args.retrieval_len < 0 || args.streaming_len < 0 || num_sms <= 0) return cudaErrorInvalidValue;
  if (args.qkv == nullptr || args.out == nullptr || !Aligned16(args.qkv) || !Aligned16(args.out))
    return cudaErrorInvalidValue;
  const bool device_lengths = args.device_lengths != nullptr;
  if (device_lengths && !Aligned16(args.device_lengths)) return cudaErrorInvalidValue;
  const int fs = hkv - fr;
  // By value: the lengths; with device lengths: their upper bounds (pointers are checked for them).
  const int retrieval_len = fr > 0 ? args.retrieval_len : 0;
  const int streaming_len = fs > 0 ? args.streaming_len : 0;
  if (retrieval_len > 0 && (args.retrieval_k == nullptr || args.retrieval_v == nullptr ||
                            !Aligned16(args.retrieval_k) || !Aligned16(args.retrieval_v)))
    return cudaErrorInvalidValue;
  if (streaming_len > 0 && (args.streaming_k == nullptr || args.streaming_v == nullptr ||
                            !Aligned16(args.streaming_k) || !Aligned16(args.streaming_v)))
    return cudaErrorInvalidValue;
  const DecodeAppendArgs& append = args.append;
  if (append.enabled) {
    if (append.sink < 0 || append.recent < 0 || append.position < 0) return cudaErrorInvalidValue;
    if ((fr > 0 && (append.retrieval_k == nullptr || append.retrieval_v == nullptr)) ||
        (fs > 0 && (append.streaming_k == nullptr || append.streaming_v == nullptr)))
      return cudaErrorInvalidValue;
  }

  const int group = hq / hkv;
  const int group_tile = GroupTile(group);
  const int item_groups = group / group_tile;
  const int retrieval_items = fr * item_groups;
  const int items = hkv * item_groups;

  SplitParams params{};
  params.qkv = args.qkv;
  params.retrieval_k = args.retrieval_k;
  params.retrieval_v = args.retrieval_v;
  params.streaming_k = args.streaming_k;
  params.streaming_v = args.streaming_v;
  params.retrieval_heads = fr;
  params.streaming_heads = fs;
  params.group = group;
  params.item_groups = item_groups;
  params.num_q_heads = hq;
  params.num_kv_heads = hkv;
  params.retrieval_items = retrieval_items;
  params.items = items;
  params.q_scale = args.scale * kLog2e;
  params.lengths = args.device_lengths;

  // One wave of equal ranges: every resident block slot busy until the end, no tail. (Two waves
  // of half ranges measured 3-15% slower on an H100: twice the pieces to combine.) Bounded by the
  // workspace's slots too.
  long long max_blocks = static_cast<long long>(MinBlocksPerSm(group_tile)) * num_sms;
  const long long rows_per_block =
      PlanSplits(params, retrieval_len, streaming_len, max_blocks, group_tile, d, static_cast<float*>(workspace));
  const bool any_rows = params.total_rows > 0;
  if (any_rows || device_lengths) {
    if (workspace == nullptr || !Aligned16(workspace)) return cudaErrorInvalidValue;
    const long long slots_available = static_cast<long long>(workspace_bytes / SlotBytes(group_tile, d));
    if (slots_available < items + 1) return cudaErrorInvalidValue;
    if (max_blocks > slots_available - items) {
      max_blocks = slots_available - items;
      // Re-plan under the workspace's bound (the first plan only told whether there are rows).
      if (PlanSplits(params, retrieval_len, streaming_len, max_blocks, group_tile, d,
                     static_cast<float*>(workspace)) > INT_MAX)
        return cudaErrorInvalidValue;
    } else if (rows_per_block > INT_MAX) {
      return cudaErrorInvalidValue;
    }
  }
  // With device lengths the grid is the largest plan's (the upper bounds' rows per block were
  // checked above; smaller lengths plan no more rows per block).
  params.max_blocks = static_cast<int>(max_blocks);
  const long long blocks = device_lengths ? max_blocks : params.blocks;

  if (blocks > 0) {
    switch (d) {
      case 32: LaunchSplitForTile<32>(params, device_lengths, group_tile, static_cast<int>(blocks), stream); break;
      case 64: LaunchSplitForTile<64>(params, device_lengths, group_tile, static_cast<int>(blocks), stream); break;
      default: LaunchSplitForTile<128>(params, device_lengths, group_tile, static_cast<int>(blocks), stream); break;
    }
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) return status;
  }
  // The combine overlaps the split kernel's tail through programmatic dependent launch where the
  // device has it (compute capability 9.0+).
  const bool overlap = blocks > 0 && DependentLaunchSupported();
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(d / 32), static_cast<unsigned>(hq));
  config.blockDim = dim3(kCombineThreads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = attribute;
  config.numAttrs = overlap ? 1 : 0;
  cudaError_t status;
  switch (d) {
    case 32: status = LaunchCombine<32>(config, params, group_tile, args.out, append, device_lengths); break;
    case 64: status = LaunchCombine<64>(config, params, group_tile, args.out, append, device_lengths); break;
    default: status = LaunchCombine<128>(config, params, group_tile, args.out, append, device_lengths); break;
  }
  if (status != cudaSuccess) return status;
  return cudaGetLastError();
}

}  // namespace duo
