// KV4 attention (see kv4_attention.cuh for the plan).
//
// Fragment mapping (mma.sync.m16n8k16, g = lane / 4, c = lane % 4). Dot products do not care in
// which order dimensions are summed, and outputs can be written anywhere, so each operand uses the
// dimension order that lets a thread load contiguous codes:
//   S = Q K^T (M = 16 query rows, N = 8 keys per n-tile, K = 16 dims per k-step): thread (g, c)
//     loads bytes [c D/8, (c + 1) D/8) of keys g and g + 8 of the tile, i.e. dims c D/4 + [0, D/4),
//     D/32 words of 8 codes. Word i, k-step 2i + s: its B registers are the nibble pairs 2s and
//     2s + 1 (below); the A registers (q) hold the same dims of query rows g and g + 8.
//   O += P V (M = 16 query rows, N = 8 dims per n-tile, K = 16 keys): P comes from S's accumulators
//     as they lie (flash-attention 2's register reuse); thread (g, c) loads bytes [g D/16,
//     (g + 1) D/16) of keys 2c, 2c + 1, 2c + 8, 2c + 9, i.e. dims g D/8 + [0, D/8), and pairs equal
//     dims of two keys. n-tile j = (word i, pair p, half h) holds dim n D/8 + 8 i + kPairElem[p][h]
//     in column n.
// Nibble pairs: (word >> 4p) & 0x000F000F takes the nibbles of bits 4p and 16 + 4p, i.e. (with
// element 2i in byte i's high nibble) elements kPairElem[p] = {1, 5}, {0, 4}, {3, 7}, {2, 6}. OR-ing
// 0x6400 makes each the fp16 1024 + code; subtracting 1024 is exact.
#include "kernels/kv4_attention.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

namespace duo {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBlocksPerSm = 2;       // resident blocks the split kernel is built for (one wave)
constexpr int kTileKeys = 16;
constexpr int kMinRowsPerBlock = 128;  // below this a block's fixed costs outweigh its reads
constexpr int kQueryRows = 16;         // query rows per item (the mma's M)
constexpr int kCombineThreads = 512;
constexpr int kCombineLanes = kCombineThreads / 32;  // pieces merged side by side
constexpr float kLog2e = 1.4426950408889634f;

__device__ constexpr int kPairElem[4][2] = {{1, 5}, {0, 4}, {3, 7}, {2, 6}};

struct Plan {
  const __nv_bfloat16* qkv;
  Kv4ConstCache past_k[2];  // [0] retrieval, [1] streaming
  Kv4ConstCache past_v[2];
  int past_len[2];
  int past_heads[2];        // Fr, Fs
  Kv4ConstCache chunk_k;
  Kv4ConstCache chunk_v;
  int tokens;               // T
  int num_q_heads, num_kv_heads, num_retrieval;
  int group;                // G
  int gh;                   // query heads per item (divides G, <= 16)
  int item_groups;          // G / GH
  int tokens_per_item;      // TPI = min(16 / GH, T)
  int rows_per_item;        // TPI * GH
  int token_tiles;          // TT = ceil(T / TPI)
  long long group_rows[2];  // rows of the items of one (KV head, head group) of each kind
  long long retrieval_rows; // rows of all retrieval items
  long long total_rows;
  long long rows_per_block; // L
  int blocks;
  float q_scale;            // scale * log2(e)
  __nv_bfloat16* out;
  float* partial_acc;       // [2 * blocks][16][D]; slot 2b: block b's first piece, 2b + 1: its last
  float* partial_ml;        // [2 * blocks][16][2]
};

/** Where an item's keys lie in the end-to-end row space, and what it covers. */
struct Item {
  long long offset;  // first row
  int keys;          // past + visible chunk keys
  int kind;          // 0 retrieval, 1 streaming
  int kv_head;
  int head_group;
  int token_tile;
};

/** Rows of the first `tile` token tiles of one (KV head, head group): tile * past + sum of their chunk keys. */
__host__ __device__ inline long long TilePrefix(const Plan& p, int past, int tile) {
  return static_cast<long long>(tile) * past + static_cast<long long>(p.tokens_per_item) * tile * (tile + 1) / 2;
}

__host__ __device__ inline int ChunkKeys(const Plan& p, int tile) {
  const long long end = static_cast<long long>(tile + 1) * p.tokens_per_item;
  return static_cast<int>(end < p.tokens ? end : p.tokens);
}

/** The item holding row x (0 <= x < total_rows). */
__device__ Item FindItem(const Plan& p, long long x) {
  Item item;
  long long base;
  int grp;
  if (x < p.retrieval_rows) {
    item.kind = 0;
    grp = static_cast<int>(x / p.group_rows[0]);
    base = grp * p.group_rows[0];
  } else {
    item.kind = 1;
    const long long rest = x - p.retrieval_rows;
    const int local = static_cast<int>(rest / p.group_rows[1]);
    base = p.retrieval_rows + local * p.group_rows[1];
    grp = p.num_retrieval * p.item_groups + local;
  }
  const int past = p.past_len[item.kind];
  const long long within = x - base;
  int lo = 0;
  int hi = p.token_tiles - 1;  // largest tile with TilePrefix(tile) <= within
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (TilePrefix(p, past, mid) <= within) lo = mid; else hi = mid - 1;
  }
  item.kv_head = grp / p.item_groups;
  item.head_group = grp - item.kv_head * p.item_groups;
  item.token_tile = lo;
  item.offset = base + TilePrefix(p, past, lo);
  item.keys = past + ChunkKeys(p, lo);
  return item;
}

__device__ __forceinline__ uint32_t AsU32(__half2 h) {
  uint32_t u;
  memcpy(&u, &h, 4);
  return u;
}
__device__ __forceinline__ __half2 AsHalf2(uint32_t u) {
  __half2 h;
  memcpy(&h, &u, 4);
  return h;
}

/** Nibble pair p of `word` (elements kPairElem[p]) dequantized: fp16(fp16(code * scale) + zero). */
__device__ __forceinline__ __half2 Dequant(uint32_t word, int p, __half2 scale, __half2 zero) {
  const __half2 biased = AsHalf2(((word >> (4 * p)) & 0x000F000Fu) | 0x64006400u);  // 1024 + code
  const __half2 code = __hsub2(biased, AsHalf2(0x64006400u));
  return __hadd2_rn(__hmul2_rn(code, scale), zero);
}

__device__ __forceinline__ void Mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/** `bytes` (2, 4, 8 or 16) of codes as 32-bit words (a 2-byte load fills the low half of word 0). */
template <int kBytes>
__device__ __forceinline__ void LoadCodes(const uint8_t* pointer, uint32_t (&words)[(kBytes + 3) / 4]) {
  if constexpr (kBytes == 2) {
    words[0] = __ldg(reinterpret_cast<const unsigned short*>(pointer));
  } else if constexpr (kBytes == 4) {
    words[0] = __ldg(reinterpret_cast<const unsigned*>(pointer));
  } else if constexpr (kBytes == 8) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(pointer));
    words[0] = v.x;
    words[1] = v.y;
  } else {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(pointer));
    words[0] = v.x;
    words[1] = v.y;
    words[2] = v.z;
    words[3] = v.w;
  }
}

__device__ __forceinline__ float SafeBase(float max_value) { return max_value == -INFINITY ? 0.0f : max_value; }

template <int D>
struct Tile {
  static constexpr int kKBytes = D / 8;   // per key per thread, S = Q K^T
  static constexpr int kVBytes = D / 16;  // per key per thread, O += P V
  static constexpr int kKWords = (kKBytes + 3) / 4;
  static constexpr int kVWords = (kVBytes + 3) / 4;
  uint32_t k[2][kKWords];  // keys g, g + 8
  uint32_t kp[2];          // their (scale, zero)
  uint32_t v[4][kVWords];  // keys 2c, 2c + 1, 2c + 8, 2c + 9
  uint32_t vp[4];
};

/**
 * The split kernel: block b covers rows [b L, (b + 1) L) of the items laid end to end; for each
 * item piece in it, warps take 16-key tiles in turn, then merge through shared memory.
 */
template <int D>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) Kv4SplitKernel(const Plan p) {
  constexpr int kKSteps = D / 16;
  constexpr int kNTiles = D / 8;
  constexpr int kHalves = D >= 64 ? 2 : 1;  // halves of a V pair that hold real dims
  using T = Tile<D>;
  __shared__ __align__(16) float merge_acc[kWarps][kQueryRows][D];
  __shared__ float merge_ml[kWarps][kQueryRows][2];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int g = lane >> 2;
  const int c = lane & 3;
  const long long block_start = static_cast<long long>(blockIdx.x) * p.rows_per_block;
  const long long block_end = min(block_start + p.rows_per_block, p.total_rows);
  const std::size_t row_stride = static_cast<std::size_t>(p.num_q_heads + 2 * p.num_kv_heads) * D;

  long long x = block_start;
  while (x < block_end) {  // block-uniform: one iteration per item piece
    const Item item = FindItem(p, x);
    const int t0 = static_cast<int>(x - item.offset);
    const int t1 = static_cast<int>(min(static_cast<long long>(item.keys), block_end - item.offset));
    const int past = p.past_len[item.kind];
    const int past_heads = p.past_heads[item.kind];
    const int head_local = item.kind == 0 ? item.kv_head : item.kv_head - p.num_retrieval;
    const Kv4ConstCache past_k = p.past_k[item.kind];
    const Kv4ConstCache past_v = p.past_v[item.kind];
    const int token0 = item.token_tile * p.tokens_per_item;
    const int head0 = item.kv_head * p.group + item.head_group * p.gh;

    // Query rows g and g + 8: token token0 + row / GH, head head0 + row % GH (invalid rows: q = 0).
    int row_token[2];
    bool row_valid[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = g + 8 * half;
      row_token[half] = token0 + row / p.gh;
      row_valid[half] = row < p.rows_per_item && row_token[half] < p.tokens;
    }
    uint32_t qa[kKSteps][4];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = g + 8 * half;
      const __nv_bfloat16* q = p.qkv + static_cast<std::size_t>(row_token[half]) * row_stride +
                               static_cast<std::size_t>(head0 + row % p.gh) * D + c * (D / 4);
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk) {
        const int i = kk / 2;
        const int s = kk % 2;
#pragma unroll
        for (int reg = 0; reg < 2; ++reg) {  // reg 0: pair 2s (A cols 2c, 2c+1); reg 1: pair 2s + 1 (cols 2c+8, 2c+9)
          const int pair = 2 * s + reg;
          float lo = 0.0f;
          float hi = 0.0f;
          if (row_valid[half]) {
            lo = __bfloat162float(q[8 * i + kPairElem[pair][0]]);
            hi = __bfloat162float(q[8 * i + kPairElem[pair][1]]);
          }
          qa[kk][half + 2 * reg] = AsU32(__floats2half2_rn(lo, hi));
        }
      }
    }

    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
    float acc[kNTiles][4];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;

    // Key `key` of the item (clamped into [t0, t1) so masked keys read valid memory).
    auto key_address = [&](int key, const Kv4ConstCache& past_cache, const Kv4ConstCache& chunk_cache,
                           const uint8_t** codes, const __half2** param) {
      key = key < t1 ? key : t0;
      std::size_t group;
      const Kv4ConstCache* cache;
      if (key < past) {
        group = static_cast<std::size_t>(key) * past_heads + head_local;
        cache = &past_cache;
      } else {
        group = static_cast<std::size_t>(key - past) * p.num_kv_heads + item.kv_head;
        cache = &chunk_cache;
      }
      *codes = cache->codes + group * (D / 2);
      *param = cache->params + group;
    };
    auto load = [&](int base, T& tile) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const uint8_t* codes;
        const __half2* param;
        key_address(base + g + 8 * r, past_k, p.chunk_k, &codes, &param);
        LoadCodes<T::kKBytes>(codes + c * T::kKBytes, tile.k[r]);
        tile.kp[r] = __ldg(reinterpret_cast<const unsigned*>(param));
      }
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const uint8_t* codes;
        const __half2* param;
        key_address(base + 2 * c + (r & 1) + 8 * (r >> 1), past_v, p.chunk_v, &codes, &param);
        LoadCodes<T::kVBytes>(codes + g * T::kVBytes, tile.v[r]);
        tile.vp[r] = __ldg(reinterpret_cast<const unsigned*>(param));
      }
    };

    const int first_tile = t0 + warp * kTileKeys;
    T tile;
    if (first_tile < t1) load(first_tile, tile);
    for (int base = first_tile; base < t1; base += kWarps * kTileKeys) {
      T next;
      const int next_base = base + kWarps * kTileKeys;
      if (next_base < t1) load(next_base, next);

      // S = Q K^T for keys base .. base + 15 (two n-tiles of 8).
      float score[2][4];
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        score[nt][0] = score[nt][1] = score[nt][2] = score[nt][3] = 0.0f;
        const __half2 kp = AsHalf2(tile.kp[nt]);
        const __half2 scale = __low2half2(kp);
        const __half2 zero = __high2half2(kp);
#pragma unroll
        for (int kk = 0; kk < kKSteps; ++kk) {
          const uint32_t word = tile.k[nt][kk / 2];
          const int s = kk % 2;
          const uint32_t b0 = AsU32(Dequant(word, 2 * s, scale, zero));
          const uint32_t b1 = AsU32(Dequant(word, 2 * s + 1, scale, zero));
          Mma(score[nt], qa[kk][0], qa[kk][1], qa[kk][2], qa[kk][3], b0, b1);
        }
      }
      // Masks and the online softmax; rows g (values 0, 1) and g + 8 (values 2, 3).
      float row_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int half = e >> 1;
          const int key = base + nt * 8 + 2 * c + (e & 1);
          const bool visible = key < t1 && (key < past || key - past <= row_token[half]);
          score[nt][e] = visible ? score[nt][e] * p.q_scale : -INFINITY;
          row_max[half] = fmaxf(row_max[half], score[nt][e]);
        }
      }
      float alpha[2];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        row_max[half] = fmaxf(row_max[half], __shfl_xor_sync(0xffffffffu, row_max[half], 1));
        row_max[half] = fmaxf(row_max[half], __shfl_xor_sync(0xffffffffu, row_max[half], 2));
        const float m_new = fmaxf(m[half], row_max[half]);
        alpha[half] = exp2f(m[half] - SafeBase(m_new));
        m[half] = m_new;
        l[half] *= alpha[half];
      }
      uint32_t pa[4];  // P as the A operand: (row g, keys 2c..), (g + 8, 2c..), (g, 2c + 8..), (g + 8, 2c + 8..)
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const float base_value = SafeBase(m[half]);
          const __half2 prob = __floats2half2_rn(exp2f(score[nt][2 * half] - base_value),
                                                 exp2f(score[nt][2 * half + 1] - base_value));
          const float2 rounded = __half22float2(prob);
          l[half] += rounded.x + rounded.y;
          pa[half + 2 * nt] = AsU32(prob);
        }
      }
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        acc[j][0] *= alpha[0];
        acc[j][1] *= alpha[0];
        acc[j][2] *= alpha[1];
        acc[j][3] *= alpha[1];
      }
      // O += P V: dequantize the four keys' dims, pair equal dims of keys (2c, 2c + 1) and (2c + 8, 2c + 9).
#pragma unroll
      for (int i = 0; i < T::kVWords; ++i) {
#pragma unroll
        for (int pair = 0; pair < 4; ++pair) {
          __half2 value[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const __half2 vp = AsHalf2(tile.vp[r]);
            value[r] = Dequant(tile.v[r][i], pair, __low2half2(vp), __high2half2(vp));
          }
#pragma unroll
          for (int h = 0; h < kHalves; ++h) {
            const int j = i * 4 * kHalves + pair * kHalves + h;
            const __half2 b0 = h == 0 ? __lows2half2(value[0], value[1]) : __highs2half2(value[0], value[1]);
            const __half2 b1 = h == 0 ? __lows2half2(value[2], value[3]) : __highs2half2(value[2], value[3]);
            Mma(acc[j], pa[0], pa[1], pa[2], pa[3], AsU32(b0), AsU32(b1));
          }
        }
      }
      if (next_base < t1) tile = next;
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      l[half] += __shfl_xor_sync(0xffffffffu, l[half], 1);
      l[half] += __shfl_xor_sync(0xffffffffu, l[half], 2);
    }

    // Merge the warps: each writes its state, then the block combines per (row, dim).
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
      const int i = j / (4 * kHalves);
      const int pair = (j / kHalves) % 4;
      const int h = j % kHalves;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = g + 8 * (e >> 1);
        const int column = 2 * c + (e & 1);
        const int dim = column * (D / 8) + 8 * i + kPairElem[pair][h];
        merge_acc[warp][row][dim] = acc[j][e];
      }
    }
    if (c == 0) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        merge_ml[warp][g + 8 * half][0] = m[half];
        merge_ml[warp][g + 8 * half][1] = l[half];
      }
    }
    __syncthreads();
    const bool whole = t0 == 0 && item.offset + item.keys <= block_end;
    const std::size_t slot = 2 * static_cast<std::size_t>(blockIdx.x) + (x == block_start ? 0 : 1);
    for (int idx = threadIdx.x; idx < p.rows_per_item * D; idx += kThreads) {
      const int row = idx / D;
      const int dim = idx - row * D;
      const int token = token0 + row / p.gh;
      if (token >= p.tokens) continue;
      float m_all = -INFINITY;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, merge_ml[w][row][0]);
      const float base_value = SafeBase(m_all);
      float a = 0.0f;
      float l_all = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float weight = exp2f(merge_ml[w][row][0] - base_value);
        a = fmaf(merge_acc[w][row][dim], weight, a);
        l_all = fmaf(merge_ml[w][row][1], weight, l_all);
      }
      if (whole) {
        const int head = head0 + row % p.gh;
        p.out[static_cast<std::size_t>(token) * p.num_q_heads * D + static_cast<std::size_t>(head) * D + dim] =
            __float2bfloat16_rn(a / l_all);
      } else {
        p.partial_acc[(slot * kQueryRows + row) * D + dim] = a;
        if (dim == 0) {
          p.partial_ml[(slot * kQueryRows + row) * 2] = m_all;
          p.partial_ml[(slot * kQueryRows + row) * 2 + 1] = l_all;
        }
      }
    }
    __syncthreads();  // scratch reads done before the next piece overwrites it
    x = item.offset + t1;
  }
}

/**
 * One block per (block boundary b, query row, 32-dim slice): merges the pieces of the item that
 * holds row b L if that item started before it (so each split item is merged once, by its last
 * block), 16 pieces side by side.
 */
template <int D>
__global__ void __launch_bounds__(kCombineThreads) Kv4CombineKernel(const Plan p) {
  __shared__ float lane_m[kCombineLanes];
  __shared__ float lane_l[kCombineLanes];
  __shared__ float lane_acc[kCombineLanes][32];
  const long long boundary = static_cast<long long>(blockIdx.x) * p.rows_per_block;
  const Item item = FindItem(p, boundary);
  if (item.offset >= boundary) return;  // whole in its blocks, or merged by a later block
  const int row = blockIdx.y;
  if (row >= p.rows_per_item) return;
  const int token = item.token_tile * p.tokens_per_item + row / p.gh;
  if (token >= p.tokens) return;
  const int head = item.kv_head * p.group + item.head_group * p.gh + row % p.gh;
  const int dim = blockIdx.z * 32 + (threadIdx.x & 31);
  const int piece_lane = threadIdx.x >> 5;
  const long long first_block = item.offset / p.rows_per_block;
  const int pieces = static_cast<int>(blockIdx.x - first_block + 1);

  float m = -INFINITY;
  float l = 0.0f;
  float a = 0.0f;
  for (int piece = piece_lane; piece < pieces; piece += kCombineLanes) {
    const long long b = first_block + piece;
    const std::size_t slot = 2 * static_cast<std::size_t>(b) + (b * p.rows_per_block >= item.offset ? 0 : 1);
    const float piece_m = __ldg(p.partial_ml + (slot * kQueryRows + row) * 2);
    const float piece_l = __ldg(p.partial_ml + (slot * kQueryRows + row) * 2 + 1);
    const float piece_a = __ldg(p.partial_acc + (slot * kQueryRows + row) * D + dim);
    const float m_new = fmaxf(m, piece_m);
    const float base_value = SafeBase(m_new);
    const float wa = exp2f(m - base_value);
    const float wb = exp2f(piece_m - base_value);
    l = l * wa + piece_l * wb;
    a = a * wa + piece_a * wb;
    m = m_new;
  }
  if ((threadIdx.x & 31) == 0) {
    lane_m[piece_lane] = m;
    lane_l[piece_lane] = l;
  }
  lane_acc[piece_lane][threadIdx.x & 31] = a;
  __syncthreads();
  if (threadIdx.x < 32) {
    float m_all = -INFINITY;
#pragma unroll
    for (int i = 0; i < kCombineLanes; ++i) m_all = fmaxf(m_all, lane_m[i]);
    const float base_value = SafeBase(m_all);
    float numerator = 0.0f;
    float denominator = 0.0f;
#pragma unroll
    for (int i = 0; i < kCombineLanes; ++i) {
      const float weight = exp2f(lane_m[i] - base_value);
      numerator = fmaf(lane_acc[i][threadIdx.x], weight, numerator);
      denominator = fmaf(lane_l[i], weight, denominator);
    }
    p.out[static_cast<std::size_t>(token) * p.num_q_heads * D + static_cast<std::size_t>(head) * D + dim] =
        __float2bfloat16_rn(numerator / denominator);
  }
}

bool Aligned(const void* pointer, unsigned bytes) { return (reinterpret_cast<std::uintptr_t>(pointer) % bytes) == 0; }

bool Usable(const Kv4ConstCache& cache) {
  return cache.codes != nullptr && cache.params != nullptr && Aligned(cache.codes, 16) && Aligned(cache.params, 4);
}

int HeadsPerItem(int group) {
  for (int gh = group < kQueryRows ? group : kQueryRows; gh > 1; --gh)
    if (group % gh == 0) return gh;
  return 1;
}

std::size_t SlotBytes(int head_dim) { return static_cast<std::size_t>(kQueryRows) * (head_dim + 2) * sizeof(float); }

}  // namespace

std::size_t Kv4AttentionWorkspaceBytes(int num_q_heads, int num_kv_heads, int head_dim, int num_sms) {
  if (num_q_heads <= 0 || num_kv_heads <= 0 || head_dim <= 0 || num_sms <= 0) return 0;
  return 2 * static_cast<std::size_t>(kBlocksPerSm) * num_sms * SlotBytes(head_dim);
}

cudaError_t LaunchKv4Attention(const Kv4AttentionArgs& args, void* workspace, std::size_t workspace_bytes,
                               int num_sms, cudaStream_t stream) {
  const int hq = args.num_q_heads;
  const int hkv = args.num_kv_heads;
  const int fr = args.num_retrieval_kv_heads;
  const int d = args.head_dim;
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0 || fr < 0 || fr > hkv || num_sms <= 0) return cudaErrorInvalidValue;
  if (d != 32 && d != 64 && d != 128) return cudaErrorInvalidValue;
  if (args.tokens < 0 || args.retrieval_len < 0 || args.streaming_len < 0) return cudaErrorInvalidValue;
  if (args.tokens == 0) return cudaSuccess;
  if (args.qkv == nullptr || args.out == nullptr || !Aligned(args.qkv, 4) || !Aligned(args.out, 2) ||
      !Usable(args.chunk_k) || !Usable(args.chunk_v))
    return cudaErrorInvalidValue;
  const int fs = hkv - fr;
  Plan p{};
  p.qkv = args.qkv;
  p.past_k[0] = args.retrieval_k;
  p.past_v[0] = args.retrieval_v;
  p.past_k[1] = args.streaming_k;
  p.past_v[1] = args.streaming_v;
  p.past_len[0] = fr > 0 ? args.retrieval_len : 0;
  p.past_len[1] = fs > 0 ? args.streaming_len : 0;
  p.past_heads[0] = fr;
  p.past_heads[1] = fs;
  if (p.past_len[0] > 0 && (!Usable(args.retrieval_k) || !Usable(args.retrieval_v))) return cudaErrorInvalidValue;
  if (p.past_len[1] > 0 && (!Usable(args.streaming_k) || !Usable(args.streaming_v))) return cudaErrorInvalidValue;
  p.chunk_k = args.chunk_k;
  p.chunk_v = args.chunk_v;
  p.tokens = args.tokens;
  p.num_q_heads = hq;
  p.num_kv_heads = hkv;
  p.num_retrieval = fr;
  p.group = hq / hkv;
  p.gh = HeadsPerItem(p.group);
  p.item_groups = p.group / p.gh;
  p.tokens_per_item = kQueryRows / p.gh < args.tokens ? kQueryRows / p.gh : args.tokens;
  p.rows_per_item = p.tokens_per_item * p.gh;
  p.token_tiles = (args.tokens + p.tokens_per_item - 1) / p.tokens_per_item;
  for (int kind = 0; kind < 2; ++kind) {
    p.group_rows[kind] = TilePrefix(p, p.past_len[kind], p.token_tiles - 1) + p.past_len[kind] + args.tokens;
  }
  p.retrieval_rows = static_cast<long long>(fr) * p.item_groups * p.group_rows[0];
  p.total_rows = p.retrieval_rows + static_cast<long long>(fs) * p.item_groups * p.group_rows[1];
  p.q_scale = args.scale * kLog2e;
  p.out = args.out;

  // One wave of equal ranges; fewer when the workspace cannot hold two partials per block (with
  // no workspace at all, ranges are cut at item boundaries only: each block holds whole items).
  long long blocks = static_cast<long long>(kBlocksPerSm) * num_sms;
  const long long by_size = (p.total_rows + kMinRowsPerBlock - 1) / kMinRowsPerBlock;
  if (by_size < blocks) blocks = by_size;
  const long long slots_available =
      workspace == nullptr || !Aligned(workspace, 16) ? 0 : static_cast<long long>(workspace_bytes / SlotBytes(d));
  if (blocks > slots_available / 2) blocks = slots_available / 2;
  // Without room for two partials per block, one block holds every item whole (correct, slow).
  if (blocks < 1) blocks = 1;
  const long long rows_per_block = (p.total_rows + blocks - 1) / blocks;
  if (rows_per_block > INT_MAX) return cudaErrorInvalidValue;
  blocks = (p.total_rows + rows_per_block - 1) / rows_per_block;
  p.rows_per_block = rows_per_block;
  p.blocks = static_cast<int>(blocks);
  p.partial_acc = static_cast<float*>(workspace);
  p.partial_ml = p.partial_acc + 2 * static_cast<std::size_t>(blocks) * kQueryRows * d;

  switch (d) {
    case 32: Kv4SplitKernel<32><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p); break;
    case 64: Kv4SplitKernel<64><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p); break;
    default: Kv4SplitKernel<128><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p); break;
  }
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess || blocks < 2) return status;
  const dim3 combine_grid(static_cast<unsigned>(blocks), static_cast<unsigned>(p.rows_per_item),
                          static_cast<unsigned>(d / 32));
  switch (d) {
    case 32: Kv4CombineKernel<32><<<combine_grid, kCombineThreads, 0, stream>>>(p); break;
    case 64: Kv4CombineKernel<64><<<combine_grid, kCombineThreads, 0, stream>>>(p); break;
    default: Kv4CombineKernel<128><<<combine_grid, kCombineThreads, 0, stream>>>(p); break;
  }
  return cudaGetLastError();
}

}  // namespace duo
