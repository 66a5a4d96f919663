// Prefill attention (FlashAttention-2 style) with tensor cores through mma.sync m16n8k16 bf16.
//
// Work split. A CTA owns kBr = 16 * kWarps "query rows" of ONE KV head, where the rows of a KV head
// are its G query heads packed token-major: flat row f = token * G + g (query head kvh * G + g).
// Packing the group into the M dimension lets the G heads share every K/V tile a CTA loads (a
// chunk of T tokens needs T*G/kBr CTAs per KV head instead of G * T/kBr), which matters when T is
// small; for large T it costs nothing. Each warp owns 16 rows; Q lives in registers as mma A
// fragments for the whole key loop.
//
// Keys. The keys a CTA visits form one index space: j in [0, P) is past row j of its group's cache
// (P = retrieval_len or streaming_len), j in [P, P + T) is new token j - P of the chunk (from qkv).
// Row token i sees key j iff j <= P + i. The CTA walks key blocks of kBc = 64 from j = 0 up to the
// block holding P + t_max (its last token); only blocks whose last key exceeds P + t_min need the
// mask (at most the one or two blocks at the diagonal); the past's partial tail block needs none,
// because it simply continues into the new keys. Rows of a block past P + T are zero-filled by
// cp.async (never read), so smem never holds garbage that a zero probability could turn into NaN.
//
// Pipeline. kStages buffers of (K tile, V tile), filled by cp.async 16-byte copies; one
// __syncthreads per key block: wait for block n, barrier, issue block n + kStages - 1 into the
// buffer block n - 1 used, compute block n. Q is staged through the last buffer before the loop.
// Shared tiles are row-major [row][d] with the 16-byte chunks XOR-swizzled by row so the 8 row
// addresses of every ldmatrix (and every 8 consecutive cp.async chunks) hit 8 distinct bank groups.
//
// Head dims 16, 32, 64, 128 share this code: d = 16 (the tiny test models) is one k16 step of
// Q.K^T and one ldmatrix.x4.trans (two n8 output tiles) of P.V per key step, with 32-byte rows.
//
// Softmax. Online, fp32, in the log2 domain: scores are scaled by scale * log2(e) with one FFMA and
// exponentiated with ex2.approx; the row sum is kept per thread and reduced across the quad once at
// the end (the rescale factor is uniform over a quad). P is packed to bf16 in registers: the S
// accumulator layout of two n8 tiles is exactly the A fragment of the k16 P.V mma.
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

constexpr int kBc = 64;  // keys per block

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

template <int kD, int kWarps, int kStages>
struct Config {
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBr = 16 * kWarps;
  static constexpr int kTileBytes = kBc * kD * 2;
  static constexpr int kStageBytes = 2 * kTileBytes;  // K tile then V tile
  static constexpr int kSmemBytes = kStages * kStageBytes;
  static_assert(kBr * kD * 2 <= kStageBytes, "Q must fit in one stage");
  static_assert((kBc * Tile<kD>::kChunks) % kThreads == 0, "K/V tile chunks must split evenly");
  static_assert((kBr * Tile<kD>::kChunks) % kThreads == 0, "Q tile chunks must split evenly");
  static_assert(kStages >= 2, "at least double buffering");
};

template <int kD, int kWarps, int kStages>
__global__ void __launch_bounds__(32 * kWarps, 1) PrefillAttentionKernel(const Params p) {
  using C = Config<kD, kWarps, kStages>;
  using T = Tile<kD>;
  constexpr int kChunks = T::kChunks;
  constexpr int kBr = C::kBr;
  constexpr int kNTiles = kBc / 8;  // n8 score tiles per block
  constexpr int kDTiles = kD / 8;   // n8 output tiles
  constexpr int kKSteps = kD / 16;  // k16 steps of Q.K^T

  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t smem_base = SmemAddress(smem);

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;

  int row_block;
  int kv_head;
  Schedule(p, blockIdx.x, row_block, kv_head);

  const bool retrieval = kv_head < p.num_retrieval;
  const int past = retrieval ? p.retrieval_len : p.streaming_len;
  const int cache_heads = retrieval ? p.num_retrieval : p.num_kv_heads - p.num_retrieval;
  const int cache_head = retrieval ? kv_head : kv_head - p.num_retrieval;
  const bf16* cache_k = retrieval ? p.retrieval_k : p.streaming_k;
  const bf16* cache_v = retrieval ? p.retrieval_v : p.streaming_v;

  const int group = p.group;
  const int flat_rows = p.tokens * group;
  const int row0 = row_block * kBr;
  const int t_min = row0 / group;
  const int t_max = min(p.tokens - 1, (row0 + kBr - 1) / group);
  const int key_end = past + t_max + 1;  // keys [0, key_end) are visible to some row
  const int num_blocks = (key_end + kBc - 1) / kBc;
  const int new_end = past + p.tokens;  // keys [past, new_end) come from qkv
  const bf16* new_k = p.qkv + static_cast<int64_t>(p.num_q_heads + kv_head) * kD;
  const bf16* new_v = p.qkv + static_cast<int64_t>(p.num_q_heads + p.num_kv_heads + kv_head) * kD;

  // Issues the cp.asyncs of key block `block` into stage `stage`.
  auto load_kv = [&](int block, int stage) {
    const uint32_t k_base = smem_base + stage * C::kStageBytes;
    const uint32_t v_base = k_base + C::kTileBytes;
#pragma unroll
    for (int it = 0; it < (kBc * kChunks) / C::kThreads; ++it) {
      const int index = tid + it * C::kThreads;
      const int row = index / kChunks;
      const int chunk = index % kChunks;
      const int key = block * kBc + row;
      const bf16* k_src = p.qkv;
      const bf16* v_src = p.qkv;
      int bytes = 16;
      if (key < past) {
        const int64_t offset = (static_cast<int64_t>(key) * cache_heads + cache_head) * kD + chunk * 8;
        k_src = cache_k + offset;
        v_src = cache_v + offset;
      } else if (key < new_end) {
        const int64_t offset = static_cast<int64_t>(key - past) * p.qkv_stride + chunk * 8;
        k_src = new_k + offset;
        v_src = new_v + offset;
      } else {
        bytes = 0;
      }
      const uint32_t offset = T::Offset(row, chunk);
      CpAsync16(k_base + offset, k_src, bytes);
      CpAsync16(v_base + offset, v_src, bytes);
    }
  };

  // Q (staged through the last stage's buffer), then key blocks 0..kStages-2.
  const uint32_t q_base = smem_base + (kStages - 1) * C::kStageBytes;
#pragma unroll
  for (int it = 0; it < (kBr * kChunks) / C::kThreads; ++it) {
    const int index = tid + it * C::kThreads;
    const int row = index / kChunks;
    const int chunk = index % kChunks;
    const int flat = row0 + row;
    const bf16* src = p.qkv;
    int bytes = 0;
    if (flat < flat_rows) {
      const int token = flat / group;
      const int head = kv_head * group + (flat - token * group);
      src = p.qkv + static_cast<int64_t>(token) * p.qkv_stride + head * kD + chunk * 8;
      bytes = 16;
    }
    CpAsync16(q_base + T::Offset(row, chunk), src, bytes);
  }
  CpAsyncCommit();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < num_blocks) load_kv(s, s);
    CpAsyncCommit();  // always commit, so group counting stays uniform
  }

  const bool warp_active = row0 + warp * 16 < flat_rows;  // warp-uniform
  const int group_id = lane >> 2;                          // fragment row (and +8)
  const int quad_lane = lane & 3;                          // fragment column pair

  uint32_t q_frag[kKSteps][4];
  CpAsyncWait<kStages - 1>();  // the Q group is complete
  __syncthreads();
  if (warp_active) {
    const int row = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) LdMatrixX4(q_base + T::Offset(row, kk * 2 + (lane >> 4)), q_frag[kk]);
  }
  // (The barrier at the top of the first iteration keeps the Q buffer alive until every warp has it.)

  float o[kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < kDTiles; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY};  // in scaled log2 units
  float row_sum[2] = {0.0f, 0.0f};            // this thread's part of the row sums
  const float scale_log2 = p.scale_log2;

  // Visibility limits of this thread's two rows (rows past the end get a harmless limit).
  const int flat_lo = row0 + warp * 16 + group_id;
  const int limit_lo = past + flat_lo / group;
  const int limit_hi = past + (flat_lo + 8) / group;

  // Per-lane ldmatrix row/chunk parts: K (non-transposed, two key n8 tiles x two d halves) and
  // V (transposed, two key halves x two d n8 tiles).
  const int k_row = (lane & 7) + (lane >> 4) * 8;
  const int k_chunk = (lane >> 3) & 1;
  const int v_row = (lane & 7) + ((lane >> 3) & 1) * 8;
  const int v_chunk = lane >> 4;

  for (int block = 0; block < num_blocks; ++block) {
    CpAsyncWait<kStages - 2>();  // key block `block` has landed (for this thread's copies)
    __syncthreads();             // ... for every thread's; and block - 1's buffer is free
    {
      const int next = block + kStages - 1;
      if (next < num_blocks) load_kv(next, next % kStages);
      CpAsyncCommit();
    }
    if (!warp_active) continue;

    const uint32_t k_base = smem_base + (block % kStages) * C::kStageBytes;
    const uint32_t v_base = k_base + C::kTileBytes;

    // S = Q K^T for this warp's 16 rows x 64 keys.
    float s[kNTiles][4];
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
#pragma unroll
      for (int np = 0; np < kNTiles / 2; ++np) {
        uint32_t b[4];
        LdMatrixX4(k_base + T::Offset(np * 16 + k_row, kk * 2 + k_chunk), b);
        Mma(s[2 * np], q_frag[kk], b[0], b[1]);
        Mma(s[2 * np + 1], q_frag[kk], b[2], b[3]);
      }
    }

    // Causal mask, only where some key of the block is past the CTA's first token.
    const int key0 = block * kBc;
    if (key0 + kBc - 1 > past + t_min) {
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
        const int key = key0 + nt * 8 + quad_lane * 2;
        if (key > limit_lo) s[nt][0] = -INFINITY;
        if (key + 1 > limit_lo) s[nt][1] = -INFINITY;
        if (key > limit_hi) s[nt][2] = -INFINITY;
        if (key + 1 > limit_hi) s[nt][3] = -INFINITY;
      }
    }

    // Online softmax.
    float block_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
      block_max[0] = fmaxf(block_max[0], fmaxf(s[nt][0], s[nt][1]));
      block_max[1] = fmaxf(block_max[1], fmaxf(s[nt][2], s[nt][3]));
    }
    float neg_max[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 1));
      block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 2));
      const float new_max = fmaxf(row_max[r], block_max[r] * scale_log2);
      const float use_max = new_max == -INFINITY ? 0.0f : new_max;  // a row with nothing visible yet
      const float alpha = Exp2(row_max[r] - use_max);                // 0 when row_max was -inf
      row_max[r] = new_max;
      row_sum[r] *= alpha;
      neg_max[r] = -use_max;
#pragma unroll
      for (int dt = 0; dt < kDTiles; ++dt) {
        o[dt][2 * r] *= alpha;
        o[dt][2 * r + 1] *= alpha;
      }
    }
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
      s[nt][0] = Exp2(fmaf(s[nt][0], scale_log2, neg_max[0]));
      s[nt][1] = Exp2(fmaf(s[nt][1], scale_log2, neg_max[0]));
      s[nt][2] = Exp2(fmaf(s[nt][2], scale_log2, neg_max[1]));
      s[nt][3] = Exp2(fmaf(s[nt][3], scale_log2, neg_max[1]));
      row_sum[0] += s[nt][0] + s[nt][1];
      row_sum[1] += s[nt][2] + s[nt][3];
    }

    // O += P V: the scores of n8 tiles 2j, 2j+1 are the A fragment of key step j.
#pragma unroll
    for (int j = 0; j < kBc / 16; ++j) {
      const uint32_t a[4] = {PackBf16(s[2 * j][0], s[2 * j][1]), PackBf16(s[2 * j][2], s[2 * j][3]),
                             PackBf16(s[2 * j + 1][0], s[2 * j + 1][1]), PackBf16(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kDTiles / 2; ++dp) {
        uint32_t b[4];
        LdMatrixX4Trans(v_base + T::Offset(j * 16 + v_row, dp * 2 + v_chunk), b);
        Mma(o[2 * dp], a, b[0], b[1]);
        Mma(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
  }
  CpAsyncWait<0>();  // nothing may be in flight into smem when the CTA exits

  if (!warp_active) return;
  const int64_t out_stride = static_cast<int64_t>(p.num_q_heads) * kD;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    const int flat = flat_lo + 8 * r;
    if (flat >= flat_rows) continue;
    const int token = flat / group;
    const int head = kv_head * group + (flat - token * group);
    bf16* dst = p.out + token * out_stride + head * kD + quad_lane * 2;
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) {
      *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8) =
          __floats2bfloat162_rn(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
    }
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

template <int kD, int kWarps, int kStages>
cudaError_t Launch(Params params, cudaStream_t stream) {
  using C = Config<kD, kWarps, kStages>;
  const int64_t flat_rows = static_cast<int64_t>(params.tokens) * params.group;
  const int64_t row_blocks = (flat_rows + C::kBr - 1) / C::kBr;
  const int64_t ctas = row_blocks * params.num_kv_heads;
  if (flat_rows > INT32_MAX || ctas > INT32_MAX) return cudaErrorInvalidValue;
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

  auto kernel = PrefillAttentionKernel<kD, kWarps, kStages>;
  cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes);
  if (status != cudaSuccess) return status;
  kernel<<<static_cast<unsigned>(ctas), C::kThreads, C::kSmemBytes, stream>>>(params);
  return cudaGetLastError();
}

}  // namespace prefill_attention_detail

cudaError_t LaunchPrefillAttention(const PrefillAttentionArgs& args, cudaStream_t stream) {
  namespace detail = prefill_attention_detail;
  const int hq = args.num_q_heads;
  const int hkv = args.num_kv_heads;
  const int fr = args.num_retrieval_kv_heads;
  const int d = args.head_dim;
  if (args.tokens < 0 || hq <= 0 || hkv <= 0 || hq % hkv != 0 || fr < 0 || fr > hkv) return cudaErrorInvalidValue;
  if (args.retrieval_len < 0 || args.streaming_len < 0 || !(args.scale > 0.0f)) return cudaErrorInvalidValue;
  if (d != 16 && d != 32 && d != 64 && d != 128) return cudaErrorInvalidValue;
  if (args.tokens == 0) return cudaSuccess;
  if (args.qkv == nullptr || args.out == nullptr || !detail::Aligned16(args.qkv) || !detail::Aligned16(args.out))
    return cudaErrorInvalidValue;
  const bool needs_retrieval = fr > 0 && args.retrieval_len > 0;
  const bool needs_streaming = hkv - fr > 0 && args.streaming_len > 0;
  if (needs_retrieval && (args.retrieval_k == nullptr || args.retrieval_v == nullptr ||
                          !detail::Aligned16(args.retrieval_k) || !detail::Aligned16(args.retrieval_v)))
    return cudaErrorInvalidValue;
  if (needs_streaming && (args.streaming_k == nullptr || args.streaming_v == nullptr ||
                          !detail::Aligned16(args.streaming_k) || !detail::Aligned16(args.streaming_v)))
    return cudaErrorInvalidValue;
  const int64_t stride = static_cast<int64_t>(hq + 2 * hkv) * d;
  if (stride > INT32_MAX) return cudaErrorInvalidValue;

  detail::Params params{};
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

  switch (d) {
    case 16:  // tiny test models only: 4 warps (128 threads = one 16-byte chunk of a 64x16 K/V tile each)
      return detail::Launch<16, 4, 3>(params, stream);
    case 32:
      return detail::Launch<32, 4, 3>(params, stream);
    case 64:
      return detail::Launch<64, 8, 3>(params, stream);
    default:
      return detail::Launch<128, 8, 3>(params, stream);
  }
}

}  // namespace duo
