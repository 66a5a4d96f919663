// Prefill attention (FlashAttention-2 style) with tensor cores through mma.sync m16n8k16 bf16.
//
// One kernel template, configured by Config (warps, m16 row tiles per warp, keys per block, stages,
// Q in registers or in shared memory, CTAs per SM, lazy rescale); the configurations in use are
// listed near the end of this file, with the d = 128 variants that the checks time side by side.
//
// Work split. A CTA owns kBr = 16 * kRowTiles * kWarps "query rows" of ONE KV head, where the rows
// of a KV head are its G query heads packed token-major: flat row f = token * G + g (query head
// kvh * G + g). Packing the group into the M dimension lets the G heads share every K/V tile a CTA
// loads (a chunk of T tokens needs T*G/kBr CTAs per KV head instead of G * T/kBr), which matters
// when T is small; for large T it costs nothing. Each warp owns 16 * kRowTiles rows. Every warp
// ldmatrix-reads the whole K and V tile of each key block, so shared-memory bandwidth, not the
// tensor cores, bounds a warp with one row tile; with two, each K and V fragment feeds two m16
// tiles. Q either lives in registers as mma A fragments for the whole key loop, or (when those
// registers hold the second tile's accumulators) in its own shared region, re-read per k16 step.
//
// Keys. The keys a CTA visits form one index space: j in [0, P) is past row j of its group's cache
// (P = retrieval_len or streaming_len), j in [P, P + T) is new token j - P of the chunk (from qkv).
// Row token i sees key j iff j <= P + i. The CTA walks key blocks of kBc keys from j = 0 up to the
// block holding P + t_max (its last token); a warp skips the blocks entirely after its own last
// token, and only blocks whose last key exceeds P + (the warp's first token) need the mask (the
// one, two or three blocks at the diagonal); the past's partial tail block needs none, because it
// simply continues into the new keys. Rows of a block past P + T are zero-filled by cp.async
// (never read), so smem never holds garbage that a zero probability could turn into NaN.
//
// Pipeline. kStages buffers of (K tile, V tile), filled by cp.async 16-byte copies; one
// __syncthreads per key block: wait for block n, barrier, issue block n + kStages - 1 into the
// buffer block n - 1 used, compute block n. Q in registers is staged through the last buffer
// before the loop. Shared tiles are row-major [row][d] with the 16-byte chunks XOR-swizzled by row
// so the 8 row addresses of every ldmatrix (and every 8 consecutive cp.async chunks) hit 8
// distinct bank groups.
//
// Registers. Two row tiles at d = 128 hold 128 fp32 O accumulators per thread, so everything else
// that lives across the key loop is kept to a minimum: copy addresses are recomputed per block
// from the parameters (see Opaque), ldmatrix addresses are one per-lane base XOR an immediate per
// step (see Tile), the causal mask compares against immediates, and kv_head waits in shared memory.
//
// Head dims 16, 32, 64, 128 share this code: d = 16 (the tiny test models) is one k16 step of
// Q.K^T and one ldmatrix.x4.trans (two n8 output tiles) of P.V per key step, with 32-byte rows.
//
// Softmax. Online, fp32, in the log2 domain: scores are scaled by scale * log2(e) with one FFMA and
// exponentiated with ex2.approx; the row sum is kept per thread and reduced across the quad once at
// the end (the rescale factor is uniform over a quad). P is packed to bf16 in registers: the S
// accumulator layout of two n8 tiles is exactly the A fragment of the k16 P.V mma. O is rescaled
// only in key blocks where some row of the warp has a new maximum (lazy rescale; alpha is exactly
// 1 otherwise).
//
// Schedule. Grid = one CTA per (row block, KV head), linearised so heavy CTAs start first: work of
// a CTA ~ P + t_max, so blocks go in decreasing "virtual position" v, where a retrieval (heavier
// past) CTA of row block rb sits at v = rb + delta, delta = (P_r - P_s) * G / kBr row blocks.
#include "kernels/prefill_attention.cuh"

#include <cstdint>
#include <cstdlib>

namespace duo {
namespace prefill_attention_detail {

using bf16 = __nv_bfloat16;

struct Params {
  const bf16* qkv;
  int tokens;
  int qkv_stride;  // elements per qkv row: (Hq + 2*Hkv) * d
  const bf16* retrieval_k;
  const bf16* retrieval_v;
  int retrieval_len;
  const bf16* streaming_k;
  const bf16* streaming_v;
  int streaming_len;
  int num_q_heads;
  int num_kv_heads;
  int num_retrieval;  // Fr
  int group;          // G
  float scale_log2;   // scale * log2(e)
  bf16* out;
  // Schedule (see Schedule()).
  int row_blocks;
  int heavy_is_retrieval;
  int heavy_heads;
  int light_heads;
  int delta;
};

// ---- PTX wrappers ------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t SmemAddress(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

/** 16-byte global->shared copy; src_bytes = 0 writes 16 zero bytes and reads nothing. */
__device__ __forceinline__ void CpAsync16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ void LdMatrixX4(uint32_t address, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t address, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

/** c += a * b for one m16n8k16 tile (a: 16x16 row-major fragment, b: 16x8 column fragment). */
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/** x, but the compiler cannot see through it: what depends on it is not hoisted out of a loop. */
__device__ __forceinline__ int Opaque(int x) {
  asm volatile("" : "+r"(x));
  return x;
}

/** 2^x; 2^-inf = +0. */
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/** Two floats as a bf16 pair, `lo` in the low half (the lower column of a fragment). */
__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- tiles -------------------------------------------------------------------------------------

template <int kD>
struct Tile {
  static constexpr int kChunks = kD / 8;  // 16-byte chunks per row
  static constexpr int kRowBytes = kD * 2;
  static_assert(kChunks == 2 || kChunks == 4 || kChunks % 8 == 0, "head_dim must be 16, 32 or a multiple of 64");

  /**
   * Byte offset of 16-byte chunk `chunk` of row `row`. Rows of >= 128 bytes: the chunk's low 3
   * bits XOR (row % 8), so 8 consecutive rows at one logical chunk land in 8 distinct 16-byte bank
   * groups. 64-byte rows (two per 128-byte line): XOR (row / 2) % 4 instead, which does the same
   * for the 8 rows together with the row's half-line. 32-byte rows (four per line): XOR (row / 4)
   * % 2, so rows 0-3 of 8 take the even (or odd) 16-byte groups of their line and rows 4-7 the
   * others. Every variant only permutes the chunks within a row (the XOR value is < kChunks).
   */
  __device__ __forceinline__ static uint32_t Offset(int row, int chunk) {
    if constexpr (kChunks >= 8) {
      return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
    } else if constexpr (kChunks == 4) {
      return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ ((row >> 1) & 3)) << 4));
    } else {
      return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ ((row >> 2) & 1)) << 4));
    }
  }
  // Every variant keeps the row's bits and XORs only chunk bits, and its XOR value depends on the
  // row only through row % 8, so for 0 <= m < kChunks and any n:
  //   Offset(row + 8 n, chunk ^ m) = (Offset(row, chunk) ^ (m << 4)) + 8 n * kRowBytes,
  // and the same holds for absolute addresses whose base is a multiple of kRowBytes. The loops
  // below use that: one per-lane address per tile, a XOR with an immediate per k16 (or d16) step,
  // row steps folded into the ldmatrix immediate, instead of one hoisted register per step.
};

/**
 * Maps the linear CTA index to (row block, KV head) so that heavier CTAs come first. Heavy class:
 * the group with the longer past; a heavy CTA of row block rb ranks as light row block rb + delta.
 * Order: decreasing virtual position v; at equal v heavy heads first. delta > 0 only if both
 * classes have heads (so no division by an empty class).
 */
__device__ __forceinline__ void Schedule(const Params& p, int index, int& row_block, int& kv_head) {
  const int nb = p.row_blocks;
  const int fh = p.heavy_heads;
  const int fl = p.light_heads;
  const int delta = p.delta;
  bool heavy;
  int head;
  if (delta >= nb) {  // disjoint: every heavy CTA, then every light one
    if (index < nb * fh) {
      heavy = true;
      row_block = nb - 1 - index / fh;
      head = index % fh;
    } else {
      const int k = index - nb * fh;
      heavy = false;
      row_block = nb - 1 - k / fl;
      head = k % fl;
    }
  } else {
    const int region1 = delta * fh;              // v in [nb, nb + delta): heavy only
    const int region2 = (nb - delta) * (fh + fl);  // v in [delta, nb): both
    if (index < region1) {
      heavy = true;
      row_block = nb - 1 - index / fh;
      head = index % fh;
    } else if (index < region1 + region2) {
      const int k = index - region1;
      const int v = nb - 1 - k / (fh + fl);
      const int w = k % (fh + fl);
      heavy = w < fh;
      row_block = heavy ? v - delta : v;
      head = heavy ? w : w - fh;
    } else {  // v in [0, delta): light only
      const int k = index - region1 - region2;
      heavy = false;
      row_block = delta - 1 - k / fl;
      head = k % fl;
    }
  }
  kv_head = (heavy == (p.heavy_is_retrieval != 0)) ? head : p.num_retrieval + head;
}

/**
 * One kernel configuration. A warp owns kRowTiles m16 tiles of rows (16 * kRowTiles rows); every K
 * and V fragment a warp loads from shared memory feeds all its row tiles, so kRowTiles = 2 halves
 * the shared-memory reads per FLOP. Q either stays in registers for the whole key loop (staged
 * through the last K/V stage, which the first key blocks then overwrite) or, when its registers
 * are needed for the second row tile's accumulators, keeps its own shared region and is re-read
 * (ldmatrix) at every k16 step. kMinCtas is the __launch_bounds__ occupancy target (2 caps the
 * registers at 256 per thread for 128 threads).
 */
template <int D, int Warps, int RowTiles, int Bc, int Stages, bool QInRegs, int MinCtas, bool LazyRescale = true>
struct Config {
  static constexpr int kD = D;
  static constexpr int kWarps = Warps;
  static constexpr int kRowTiles = RowTiles;
  static constexpr int kBc = Bc;  // keys per block
  static constexpr int kStages = Stages;
  static constexpr bool kQInRegs = QInRegs;
  static constexpr int kMinCtas = MinCtas;
  static constexpr bool kLazyRescale = LazyRescale;

  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kWarpRows = 16 * kRowTiles;
  static constexpr int kBr = kWarpRows * kWarps;  // rows per CTA
  static constexpr int kTileBytes = kBc * kD * 2;
  static constexpr int kStageBytes = 2 * kTileBytes;  // K tile then V tile
  static constexpr int kQBytes = kBr * kD * 2;
  // Q in registers: staged through the last stage. Q in shared memory: its own region after the stages.
  static constexpr int kQOffset = kQInRegs ? (kStages - 1) * kStageBytes : kStages * kStageBytes;
  static constexpr int kSmemAlign = 256;
  static constexpr int kSmemBytes = kStages * kStageBytes + (kQInRegs ? 0 : kQBytes) + kSmemAlign;
  static_assert(!kQInRegs || kQBytes <= kStageBytes, "Q staged in registers must fit in one stage");
  static_assert(kBc % 16 == 0 && kD % 16 == 0, "k16 steps");
  // Copies: each thread one chunk column of rows kCopyRows apart, a multiple of 8 (see the kernel).
  static_assert(kThreads % Tile<kD>::kChunks == 0 && (kThreads / Tile<kD>::kChunks) % 8 == 0, "copy rows");
  static_assert(kBc % (kThreads / Tile<kD>::kChunks) == 0, "K/V tile rows must split evenly");
  static_assert(kBr % (kThreads / Tile<kD>::kChunks) == 0, "Q tile rows must split evenly");
  static_assert(kStages >= 2, "at least double buffering");
  static_assert(kRowTiles >= 1 && kWarps >= 1, "rows");
  static_assert(Tile<kD>::kRowBytes <= kSmemAlign && kTileBytes % kSmemAlign == 0, "aligned tiles");
};

template <class C>
__global__ void __launch_bounds__(C::kThreads, C::kMinCtas) PrefillAttentionKernel(const Params p) {
  using T = Tile<C::kD>;
  constexpr int kD = C::kD;
  constexpr int kBc = C::kBc;
  constexpr int kStages = C::kStages;
  constexpr int kRowTiles = C::kRowTiles;
  constexpr int kChunks = T::kChunks;
  constexpr int kBr = C::kBr;
  constexpr int kNTiles = kBc / 8;  // n8 score tiles per block
  constexpr int kDTiles = kD / 8;   // n8 output tiles
  constexpr int kKSteps = kD / 16;  // k16 steps of Q.K^T

  extern __shared__ __align__(128) unsigned char smem[];
  // Aligned up to 256 bytes (a row of the widest tile; kSmemBytes has the slack), so the XOR
  // identity of Tile holds for absolute addresses.
  const uint32_t smem_base = (SmemAddress(smem) + (C::kSmemAlign - 1)) & ~static_cast<uint32_t>(C::kSmemAlign - 1);

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;

  int row_block;
  int kv_head;
  Schedule(p, blockIdx.x, row_block, kv_head);
  // kv_head is needed again only by the copies inside the key loop and by the epilogue: they read it
  // back from shared memory (after a barrier) rather than keep a register for it.
  __shared__ int cta_kv_head;
  if (tid == 0) cta_kv_head = kv_head;

  const int past = kv_head < p.num_retrieval ? p.retrieval_len : p.streaming_len;

  const int group = p.group;
  const int flat_rows = p.tokens * group;
  const int row0 = row_block * kBr;
  const int t_max = min(p.tokens - 1, (row0 + kBr - 1) / group);
  const int key_end = past + t_max + 1;  // keys [0, key_end) are visible to some row
  const int num_blocks = (key_end + kBc - 1) / kBc;

  // Copy split: thread tid copies chunk tid % kChunks of rows tid / kChunks + i * kCopyRows. kCopyRows
  // is a multiple of 8, so every row of a thread has the same swizzle (Tile) and one shared offset
  // serves them all, plus an immediate.
  constexpr int kCopyRows = C::kThreads / kChunks;
  const int copy_chunk = tid % kChunks;
  const int copy_row = tid / kChunks;
  const uint32_t copy_offset = T::Offset(copy_row, copy_chunk);

  // Issues the cp.asyncs of key block `block` into stage `stage`. Everything it needs is recomputed
  // from the parameters and two opaque copies of tid and kv_head, so none of it is hoisted out of
  // the key loop into registers that the loop's accumulators need (a few ALU ops per key block).
  auto load_kv = [&](int block, int stage, int h) {
    const int t = Opaque(tid);
    const bool retrieval = h < p.num_retrieval;
    const int past_h = retrieval ? p.retrieval_len : p.streaming_len;
    const int cache_heads = retrieval ? p.num_retrieval : p.num_kv_heads - p.num_retrieval;
    const int cache_head = retrieval ? h : h - p.num_retrieval;
    const bf16* cache_k = retrieval ? p.retrieval_k : p.streaming_k;
    const bf16* cache_v = retrieval ? p.retrieval_v : p.streaming_v;
    const int chunk = t % kChunks;
    const int row = t / kChunks;
    const uint32_t k_dst = smem_base + stage * C::kStageBytes + T::Offset(row, chunk);
    const int key_base = block * kBc + row;
#pragma unroll
    for (int it = 0; it < kBc / kCopyRows; ++it) {
      const int key = key_base + it * kCopyRows;
      const bf16* k_src = p.qkv;
      const bf16* v_src = p.qkv;
      int bytes = 16;
      if (key < past_h) {
        const int64_t offset = static_cast<int64_t>(key) * (cache_heads * kD) + cache_head * kD + chunk * 8;
        k_src = cache_k + offset;  // (Fr * d and Fs * d are < 2^31 elements)
        v_src = cache_v + offset;
      } else if (key < past_h + p.tokens) {
        const int64_t offset =
            static_cast<int64_t>(key - past_h) * p.qkv_stride + (p.num_q_heads + h) * kD + chunk * 8;
        k_src = p.qkv + offset;
        v_src = k_src + p.num_kv_heads * kD;  // value head h sits Hkv heads after key head h
      } else {
        bytes = 0;
      }
      CpAsync16(k_dst + it * kCopyRows * T::kRowBytes, k_src, bytes);
      CpAsync16(k_dst + C::kTileBytes + it * kCopyRows * T::kRowBytes, v_src, bytes);
    }
  };

  // Q (rows past the end zero-filled), then key blocks 0..kStages-2.
  const uint32_t q_base = smem_base + C::kQOffset;
#pragma unroll
  for (int it = 0; it < kBr / kCopyRows; ++it) {
    const int flat = row0 + copy_row + it * kCopyRows;
    const bf16* src = p.qkv;
    int bytes = 0;
    if (flat < flat_rows) {
      const int token = flat / group;
      const int head = kv_head * group + (flat - token * group);
      src = p.qkv + static_cast<int64_t>(token) * p.qkv_stride + head * kD + copy_chunk * 8;
      bytes = 16;
    }
    CpAsync16(q_base + copy_offset + it * kCopyRows * T::kRowBytes, src, bytes);
  }
  CpAsyncCommit();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < num_blocks) load_kv(s, s, kv_head);
    CpAsyncCommit();  // always commit, so group counting stays uniform
  }

  // This warp's rows [warp_row0, warp_row0 + kWarpRows) hold tokens [warp_t_min, warp_t_max]; all
  // of these are warp-uniform. A warp whose first row is past the end does no math (its CTA-mates
  // still need its share of the copies and barriers).
  const int warp_row0 = row0 + warp * C::kWarpRows;
  const bool warp_active = warp_row0 < flat_rows;
  const int warp_t_min = warp_row0 / group;
  const int warp_key_end = past + min(p.tokens - 1, (warp_row0 + C::kWarpRows - 1) / group) + 1;
  const int group_id = lane >> 2;  // fragment row (and +8)
  const int quad_lane = lane & 3;  // fragment column pair

  // Per-lane ldmatrix addresses at step 0 (see Tile): the A fragment of Q (rows 0-15 of the warp's
  // row tile, two 8-column halves), K (non-transposed: two key n8 tiles x two d halves) and V
  // (transposed: two key halves x two d n8 tiles). Recomputed where used from an opaque tid, so
  // they are not hoisted out of the key loop (the registers go to the accumulators).
  auto q_lane_address = [&](int t) {
    const int ln = t & 31;
    return q_base + T::Offset((t >> 5) * C::kWarpRows + (ln & 7) + ((ln >> 3) & 1) * 8, ln >> 4);
  };
  auto k_lane_offset = [](int t) {
    const int ln = t & 31;
    return T::Offset((ln & 7) + (ln >> 4) * 8, (ln >> 3) & 1);
  };
  auto v_lane_offset = [](int t) {
    const int ln = t & 31;
    return T::Offset((ln & 7) + ((ln >> 3) & 1) * 8, ln >> 4);
  };

  uint32_t q_frag[C::kQInRegs ? kRowTiles : 1][C::kQInRegs ? kKSteps : 1][4];
  if constexpr (C::kQInRegs) {
    CpAsyncWait<kStages - 1>();  // the Q group is complete
    __syncthreads();
    if (warp_active) {
      const uint32_t q_lane = q_lane_address(tid);
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt)
#pragma unroll
        for (int kk = 0; kk < kKSteps; ++kk)
          LdMatrixX4(((q_lane) ^ (kk << 5)) + rt * 16 * T::kRowBytes, q_frag[rt][kk]);
    }
    // (The barrier at the top of the first iteration keeps the Q buffer alive until every warp has it.)
  }
  // Q in shared memory: its group is older than key block 0's, so the first iteration's wait covers it.

  float o[kRowTiles][kDTiles][4];
  float row_max[kRowTiles][2];  // in scaled log2 units
  float row_sum[kRowTiles][2];  // this thread's part of the row sums
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) o[rt][dt][0] = o[rt][dt][1] = o[rt][dt][2] = o[rt][dt][3] = 0.0f;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      row_max[rt][r] = -INFINITY;
      row_sum[rt][r] = 0.0f;
    }
  }
  const float scale_log2 = p.scale_log2;

  for (int block = 0; block < num_blocks; ++block) {
    CpAsyncWait<kStages - 2>();  // key block `block` has landed (for this thread's copies)
    __syncthreads();             // ... for every thread's; and block - 1's buffer is free
    {
      const int next = block + kStages - 1;
      if (next < num_blocks) load_kv(next, next % kStages, cta_kv_head);
      CpAsyncCommit();
    }
    const int key0 = block * kBc;
    // Past the end, or every key of the block is after this warp's last token: nothing to add.
    if (!warp_active || key0 >= warp_key_end) continue;

    const uint32_t stage_base = smem_base + (block % kStages) * C::kStageBytes;
    const uint32_t k_lane = stage_base + k_lane_offset(Opaque(tid));
    const uint32_t q_lane = C::kQInRegs ? 0u : q_lane_address(Opaque(tid));

    // S = Q K^T for this warp's rows x kBc keys; each K fragment feeds every row tile.
    float s[kRowTiles][kNTiles][4];
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt)
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) s[rt][nt][0] = s[rt][nt][1] = s[rt][nt][2] = s[rt][nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
      uint32_t qa[kRowTiles][4];
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) {
        if constexpr (C::kQInRegs) {
#pragma unroll
          for (int e = 0; e < 4; ++e) qa[rt][e] = q_frag[rt][kk][e];
        } else {
          LdMatrixX4((q_lane ^ (kk << 5)) + rt * 16 * T::kRowBytes, qa[rt]);
        }
      }
#pragma unroll
      for (int np = 0; np < kNTiles / 2; ++np) {
        uint32_t b[4];
        LdMatrixX4((k_lane ^ (kk << 5)) + np * 16 * T::kRowBytes, b);
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) {
          Mma(s[rt][2 * np], qa[rt], b[0], b[1]);
          Mma(s[rt][2 * np + 1], qa[rt], b[2], b[3]);
        }
      }
    }

    // Causal mask, only where some key of the block is past the warp's first token. (Keys of the
    // zero-filled tail, >= past + T, always fall under it: every active warp's first token is < T.)
    // Flat row f (token f / G) sees key j iff j - past <= f / G, i.e. iff (j - past) * G <= f; with
    // f = this thread's first row + 16 rt + 8 r that is a compare against an immediate. The
    // launcher keeps (T + 256) * G within int; here j - past >= -kBc (the block straddles past + t).
    if (key0 + kBc - 1 > past + warp_t_min) {
      const int rel = (key0 + quad_lane * 2 - past) * group - (warp_row0 + group_id);
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int x = rel + (nt * 8 + c) * group;  // (key - past) * G - f for this thread's row 0
#pragma unroll
          for (int rt = 0; rt < kRowTiles; ++rt) {
            if (x > rt * 16) s[rt][nt][c] = -INFINITY;
            if (x > rt * 16 + 8) s[rt][nt][2 + c] = -INFINITY;
          }
        }
      }
    }

    // Online softmax. P goes to bf16 A fragments as soon as it exists (half the registers of the
    // fp32 scores), and O is rescaled only after that, when the scores are dead: the rescale and
    // the scores are never live together. The S accumulator layout of n8 tiles 2j, 2j+1 is exactly
    // the A fragment of key step j of P.V.
    uint32_t pa[kRowTiles][kBc / 16][4];
    float alpha[kRowTiles][2];
    bool max_changed = false;  // some row of this thread got a new maximum
#pragma unroll
    for (int rt = 0; rt < kRowTiles; ++rt) {
      float block_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
        block_max[0] = fmaxf(block_max[0], fmaxf(s[rt][nt][0], s[rt][nt][1]));
        block_max[1] = fmaxf(block_max[1], fmaxf(s[rt][nt][2], s[rt][nt][3]));
      }
      float neg_max[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 1));
        block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 2));
        const float new_max = fmaxf(row_max[rt][r], block_max[r] * scale_log2);
        const bool changed = new_max != row_max[rt][r];
        max_changed |= changed;
        const float use_max = new_max == -INFINITY ? 0.0f : new_max;  // a row with nothing visible yet
        // 0 when row_max was -inf; exactly 1 when the maximum stays (also for a row still at -inf,
        // whose O and sum are 0), so skipping the rescale below changes nothing.
        alpha[rt][r] = changed ? Exp2(row_max[rt][r] - use_max) : 1.0f;
        row_max[rt][r] = new_max;
        row_sum[rt][r] *= alpha[rt][r];
        neg_max[r] = -use_max;
      }
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
        const float e0 = Exp2(fmaf(s[rt][nt][0], scale_log2, neg_max[0]));
        const float e1 = Exp2(fmaf(s[rt][nt][1], scale_log2, neg_max[0]));
        const float e2 = Exp2(fmaf(s[rt][nt][2], scale_log2, neg_max[1]));
        const float e3 = Exp2(fmaf(s[rt][nt][3], scale_log2, neg_max[1]));
        row_sum[rt][0] += e0 + e1;
        row_sum[rt][1] += e2 + e3;
        pa[rt][nt / 2][(nt % 2) * 2] = PackBf16(e0, e1);
        pa[rt][nt / 2][(nt % 2) * 2 + 1] = PackBf16(e2, e3);
      }
    }
    // A row whose maximum did not change has alpha = 1: when no row of the warp changed (most key
    // blocks once the maxima have settled), the rescale of O is skipped, warp-uniformly.
    if (!C::kLazyRescale || __any_sync(0xffffffffu, max_changed)) {
#pragma unroll
      for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
        for (int dt = 0; dt < kDTiles; ++dt) {
          o[rt][dt][0] *= alpha[rt][0];
          o[rt][dt][1] *= alpha[rt][0];
          o[rt][dt][2] *= alpha[rt][1];
          o[rt][dt][3] *= alpha[rt][1];
        }
      }
    }

    // O += P V; each V fragment feeds every row tile.
    const uint32_t v_lane = stage_base + C::kTileBytes + v_lane_offset(Opaque(tid));
#pragma unroll
    for (int j = 0; j < kBc / 16; ++j) {
#pragma unroll
      for (int dp = 0; dp < kDTiles / 2; ++dp) {
        uint32_t b[4];
        LdMatrixX4Trans((v_lane ^ (dp << 5)) + j * 16 * T::kRowBytes, b);
#pragma unroll
        for (int rt = 0; rt < kRowTiles; ++rt) {
          Mma(o[rt][2 * dp], pa[rt][j], b[0], b[1]);
          Mma(o[rt][2 * dp + 1], pa[rt][j], b[2], b[3]);
        }
      }
    }
  }
  CpAsyncWait<0>();  // nothing may be in flight into smem when the CTA exits

  if (!warp_active) return;
  const int out_kv_head = cta_kv_head;  // (every thread passed a barrier since thread 0 wrote it)
  const int64_t out_stride = static_cast<int64_t>(p.num_q_heads) * kD;
#pragma unroll
  for (int rt = 0; rt < kRowTiles; ++rt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = row_sum[rt][r];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int flat = warp_row0 + rt * 16 + group_id + 8 * r;
      if (flat >= flat_rows) continue;
      const int token = flat / group;
      const int head = out_kv_head * group + (flat - token * group);
      bf16* dst = p.out + token * out_stride + head * kD + quad_lane * 2;
#pragma unroll
      for (int dt = 0; dt < kDTiles; ++dt) {
        *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) =
            __floats2bfloat162_rn(o[rt][dt][2 * r] * inv, o[rt][dt][2 * r + 1] * inv);
      }
    }
  }
}

// Bound on the kernel's static shared memory (cta_kv_head), which counts against the same limit.
constexpr int kStaticSmemSlack = 128;

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

template <class C>
cudaError_t Launch(Params params, cudaStream_t stream) {
  const int64_t flat_rows = static_cast<int64_t>(params.tokens) * params.group;
  const int64_t row_blocks = (flat_rows + C::kBr - 1) / C::kBr;
  const int64_t ctas = row_blocks * params.num_kv_heads;
  // (The kernel's mask computes (key - past) * G for keys up to past + T + kBc, in int.)
  if ((static_cast<int64_t>(params.tokens) + 256) * params.group > INT32_MAX || ctas > INT32_MAX)
    return cudaErrorInvalidValue;
  params.row_blocks = static_cast<int>(row_blocks);

  // Schedule: the class with the longer past is "heavy"; delta = its extra past in row blocks.
  const int retrieval_heads = params.num_retrieval;
  const int streaming_heads = params.num_kv_heads - params.num_retrieval;
  const bool heavy_retrieval = params.retrieval_len >= params.streaming_len;
  params.heavy_is_retrieval = heavy_retrieval ? 1 : 0;
  params.heavy_heads = heavy_retrieval ? retrieval_heads : streaming_heads;
  params.light_heads = heavy_retrieval ? streaming_heads : retrieval_heads;
  int64_t delta = 0;
  if (params.heavy_heads > 0 && params.light_heads > 0) {
    const int64_t extra = std::llabs(static_cast<long long>(params.retrieval_len) - params.streaming_len);
    delta = (extra * params.group + C::kBr / 2) / C::kBr;
    if (delta > row_blocks) delta = row_blocks;
  }
  params.delta = static_cast<int>(delta);

  // Configurations above the device's per-block shared memory (sm_86/89 opt in to 99 KB, sm_80 to
  // 163 KB, sm_90 to 227 KB) are not an argument error: the caller may fall back to another.
  int device = 0;
  int smem_optin = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status != cudaSuccess) return status;
  status = cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (status != cudaSuccess) return status;
  if (C::kSmemBytes + kStaticSmemSlack > smem_optin) return cudaErrorNotSupported;

  auto kernel = PrefillAttentionKernel<C>;
  status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes);
  if (status != cudaSuccess) return status;
  // All shared, so kMinCtas CTAs of the larger configurations fit on an SM (the kernel reads
  // global memory through cp.async.cg only, which bypasses L1).
  status = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
  if (status != cudaSuccess) return status;
  kernel<<<static_cast<unsigned>(ctas), C::kThreads, C::kSmemBytes, stream>>>(params);
  return cudaGetLastError();
}

// ---- configurations ------------------------------------------------------------------------------
//
// Config<d, warps, row tiles per warp, keys per block, stages, Q in registers, min CTAs per SM,
// lazy rescale (default on)>. d = 16, 32, 64 have one configuration each; d = 128 has the variants
// below, index 0 the default. Per key block, a warp ldmatrix-reads the whole K and V tile
// (kBc * d * 4 bytes) plus, with Q in shared memory, its Q rows (32 * d * 2 bytes), for
// kRowTiles * kBc * d / 64 HMMAs (m16n8k16): at d = 128, bytes per HMMA are 256 for V1 and V4, 192
// for 32 rows x 32 keys, 171 for 32 rows x 48 keys (H100: 128 B/clk/SM of shared memory against
// about one HMMA per clock per SM at peak).
using ConfigD16 = Config<16, 4, 1, 64, 3, true, 1>;  // 128 threads = one 16-byte chunk of a 64x16 tile each
using ConfigD32 = Config<32, 4, 1, 64, 3, true, 1>;
using ConfigD64 = Config<64, 8, 1, 64, 3, true, 1>;
// V1: 8 warps x 16 rows, 64 keys, 3 stages, Q in registers: 96 KB, 1 CTA/SM (256 B/HMMA of ldmatrix).
using ConfigD128V1 = Config<128, 8, 1, 64, 3, true, 1>;
// V2: 4 warps x 32 rows (two m16 tiles share every K/V fragment), 32 keys, 3 stages, Q in shared
// memory: 32 + 48 = 80 KB, 2 CTAs/SM on sm_80 and sm_90. 64 keys would need 64 score registers
// next to the 128 of O: ptxas spills there; at 32 keys it takes 238 registers, at 48 all 255.
using ConfigD128V2 = Config<128, 4, 2, 32, 3, false, 2>;
// V2 with 4 stages: 32 + 64 = 96 KB, 2 CTAs/SM on sm_90 only (1 on sm_80).
using ConfigD128V2S4 = Config<128, 4, 2, 32, 4, false, 2>;
// V2 with 48 keys (less per-block bookkeeping per FLOP than 32; at 255 registers, no spills): 32 +
// 72 = 104 KB, 2 CTAs/SM on sm_90 only.
using ConfigD128V2B48 = Config<128, 4, 2, 48, 3, false, 2>;
// V3: 8 warps x 32 rows (256 rows: half the K/V traffic from L2 of V1/V2), 32 keys, 4 stages, Q in
// shared memory: 64 + 64 = 128 KB, 1 CTA/SM.
using ConfigD128V3 = Config<128, 8, 2, 32, 4, false, 1>;
// V3 with 48 keys, 3 stages: 64 + 72 = 136 KB, 1 CTA/SM.
using ConfigD128V3B48 = Config<128, 8, 2, 48, 3, false, 1>;
// V4: V1 with 128 keys per block (half the per-block softmax bookkeeping), 2 stages: 128 KB, 1 CTA/SM.
using ConfigD128V4 = Config<128, 8, 1, 128, 2, true, 1>;
// V1 rescaling O at every key block, as the kernel did before the lazy rescale: a baseline.
using ConfigD128V1Eager = Config<128, 8, 1, 64, 3, true, 1, false>;

constexpr int kD128Variants = 8;
// V3 with 48 keys won on an H100 (2026-11-26, duo_kernel_checks --bench): causal 16K 350 TFLOP/s
// (V1 283, V2/48 keys 335), 4K 320 (V1 257), the last chunks of a 128K prompt 351-360 (V1 284-292).
// GPUs with less than its 136 KB of shared memory per block (sm_86/89) fall back to V1.
constexpr int kD128Default = 5;
const char* const kD128Names[kD128Variants] = {
    "v1_w8_r16_bc64_s3_qreg",  "v2_w4_r32_bc32_s3_qsmem", "v2_w4_r32_bc32_s4_qsmem", "v2_w4_r32_bc48_s3_qsmem",
    "v3_w8_r32_bc32_s4_qsmem", "v3_w8_r32_bc48_s3_qsmem", "v4_w8_r16_bc128_s2_qreg", "v1_eager_w8_r16_bc64_s3_qreg",
};

/** Validates `args` and fills `params` (schedule fields excepted). */
cudaError_t MakeParams(const PrefillAttentionArgs& args, Params& params) {
  const int hq = args.num_q_heads;
  const int hkv = args.num_kv_heads;
  const int fr = args.num_retrieval_kv_heads;
  const int d = args.head_dim;
  if (args.tokens < 0 || hq <= 0 || hkv <= 0 || hq % hkv != 0 || fr < 0 || fr > hkv) return cudaErrorInvalidValue;
  if (args.retrieval_len < 0 || args.streaming_len < 0 || !(args.scale > 0.0f)) return cudaErrorInvalidValue;
  if (d != 16 && d != 32 && d != 64 && d != 128) return cudaErrorInvalidValue;
  if (args.tokens == 0) return cudaSuccess;
  if (args.qkv == nullptr || args.out == nullptr || !Aligned16(args.qkv) || !Aligned16(args.out))
    return cudaErrorInvalidValue;
  const bool needs_retrieval = fr > 0 && args.retrieval_len > 0;
  const bool needs_streaming = hkv - fr > 0 && args.streaming_len > 0;
  if (needs_retrieval && (args.retrieval_k == nullptr || args.retrieval_v == nullptr ||
                          !Aligned16(args.retrieval_k) || !Aligned16(args.retrieval_v)))
    return cudaErrorInvalidValue;
  if (needs_streaming && (args.streaming_k == nullptr || args.streaming_v == nullptr ||
                          !Aligned16(args.streaming_k) || !Aligned16(args.streaming_v)))
    return cudaErrorInvalidValue;
  const int64_t stride = static_cast<int64_t>(hq + 2 * hkv) * d;
  if (stride > INT32_MAX) return cudaErrorInvalidValue;

  params = Params{};
  params.qkv = args.qkv;
  params.tokens = args.tokens;
  params.qkv_stride = static_cast<int>(stride);
  params.retrieval_k = args.retrieval_k;
  params.retrieval_v = args.retrieval_v;
  params.retrieval_len = fr > 0 ? args.retrieval_len : 0;
  params.streaming_k = args.streaming_k;
  params.streaming_v = args.streaming_v;
  params.streaming_len = hkv - fr > 0 ? args.streaming_len : 0;
  params.num_q_heads = hq;
  params.num_kv_heads = hkv;
  params.num_retrieval = fr;
  params.group = hq / hkv;
  params.scale_log2 = args.scale * 1.4426950408889634f;
  params.out = args.out;
  return cudaSuccess;
}

}  // namespace prefill_attention_detail

int PrefillAttentionVariantCount(int head_dim) {
  namespace detail = prefill_attention_detail;
  switch (head_dim) {
    case 16:
    case 32:
    case 64:
      return 1;
    case 128:
      return detail::kD128Variants;
    default:
      return 0;
  }
}

int PrefillAttentionDefaultVariant(int head_dim) {
  return head_dim == 128 ? prefill_attention_detail::kD128Default : 0;
}

const char* PrefillAttentionVariantName(int head_dim, int variant) {
  namespace detail = prefill_attention_detail;
  if (variant < 0 || variant >= PrefillAttentionVariantCount(head_dim)) return nullptr;
  switch (head_dim) {
    case 16:
      return "w4_r16_bc64_s3_qreg";
    case 32:
      return "w4_r16_bc64_s3_qreg";
    case 64:
      return "w8_r16_bc64_s3_qreg";
    default:
      return detail::kD128Names[variant];
  }
}

cudaError_t LaunchPrefillAttentionVariant(const PrefillAttentionArgs& args, int variant, cudaStream_t stream) {
  namespace detail = prefill_attention_detail;
  detail::Params params;
  const cudaError_t status = detail::MakeParams(args, params);
  if (status != cudaSuccess) return status;
  if (variant < 0 || variant >= PrefillAttentionVariantCount(args.head_dim)) return cudaErrorInvalidValue;
  if (args.tokens == 0) return cudaSuccess;
  switch (args.head_dim) {
    case 16:
      return detail::Launch<detail::ConfigD16>(params, stream);
    case 32:
      return detail::Launch<detail::ConfigD32>(params, stream);
    case 64:
      return detail::Launch<detail::ConfigD64>(params, stream);
    default:
      switch (variant) {
        case 0:
          return detail::Launch<detail::ConfigD128V1>(params, stream);
        case 1:
          return detail::Launch<detail::ConfigD128V2>(params, stream);
        case 2:
          return detail::Launch<detail::ConfigD128V2S4>(params, stream);
        case 3:
          return detail::Launch<detail::ConfigD128V2B48>(params, stream);
        case 4:
          return detail::Launch<detail::ConfigD128V3>(params, stream);
        case 5:
          return detail::Launch<detail::ConfigD128V3B48>(params, stream);
        case 6:
          return detail::Launch<detail::ConfigD128V4>(params, stream);
        default:
          return detail::Launch<detail::ConfigD128V1Eager>(params, stream);
      }
  }
}

cudaError_t LaunchPrefillAttention(const PrefillAttentionArgs& args, cudaStream_t stream) {
  const int variant = PrefillAttentionDefaultVariant(args.head_dim);
  const cudaError_t status = LaunchPrefillAttentionVariant(args, variant, stream);
  // A default that needs more shared memory than this GPU has (sm_86/89): V1 (96 KB) fits everywhere.
  if (status == cudaErrorNotSupported && variant != 0) return LaunchPrefillAttentionVariant(args, 0, stream);
  return status;
}

}  // namespace duo
