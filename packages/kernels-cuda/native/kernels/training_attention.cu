// Training attention under the streaming mask (training_attention.cuh), on tensor cores through
// WMMA 16x16x16 bf16 fragments.
//
// Blocks of 64 queries and 64 keys; 4 warps per CTA, each owning 16 rows (queries in the forward
// and dQ kernels, keys in the dK/dV kernel). A query block visits only the key blocks its rows can
// see: the sink blocks and the blocks of its recent window (about (S + R) / 64 + 2 of them, however
// long the sequence); the mask itself is applied element by element, so partial blocks are exact.
//
// Forward: scores go through shared memory (WMMA's accumulator layout is opaque), where 2 lanes
// per row run the online softmax in the log2 domain, rescale that row's output (kept in shared
// memory in f32) and write P in bf16; P.V is then accumulated into the output tile.
// Backward (FlashAttention-2): delta_i = dO_i . O_i first; dQ per query block from
// P = exp2(s - lse) and dS = P (dP - delta) with dP = dO V^T, accumulated in registers; dK and dV
// per key block over the query blocks that see it (the work list), accumulated in registers and
// added to global f32 with atomics (only the split sink blocks ever meet at one address).
//
// Shared-memory rows are padded (bf16 rows by 8 elements, f32 rows by 4) so WMMA's row loads do
// not all hit one bank, and every tile starts 32-byte aligned as WMMA requires.
#include "kernels/training_attention.cuh"

#include <mma.h>

#include <algorithm>
#include <cmath>

namespace duo {
namespace training_attention_detail {

using bf16 = __nv_bfloat16;
namespace wmma = nvcuda::wmma;

constexpr int kBlock = kTrainingAttentionBlock;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;

struct Params {
  const bf16* qkv;
  int tokens;
  int qkv_stride;
  int num_q_heads;
  int num_kv_heads;
  int group;
  float scale;
  float scale_log2;
  TrainingMask mask;
};

Params MakeParams(const TrainingAttentionArgs& a) {
  Params p{};
  p.qkv = a.qkv;
  p.tokens = a.tokens;
  p.qkv_stride = (a.num_q_heads + 2 * a.num_kv_heads) * a.head_dim;
  p.num_q_heads = a.num_q_heads;
  p.num_kv_heads = a.num_kv_heads;
  p.group = a.num_q_heads / a.num_kv_heads;
  p.scale = a.scale;
  p.scale_log2 = a.scale * kLog2e;
  p.mask = a.mask;
  return p;
}

/** Shared-memory layout of one kernel: regions of bf16 and f32 tiles, each 128-byte aligned. */
template <int kD>
struct Layout {
  static constexpr int kLdb = kD + 8;      // bf16 [64][d] tiles
  static constexpr int kLdp = kBlock + 8;  // bf16 [64][64] tiles
  static constexpr int kLds = kBlock + 4;  // f32 [64][64] tiles
  static constexpr int kLdo = kD + 4;      // f32 [64][d] tiles
  static constexpr int kTileB = ((kBlock * kLdb * 2 + 127) / 128) * 128;
  static constexpr int kTileP = ((kBlock * kLdp * 2 + 127) / 128) * 128;
  static constexpr int kTileS = ((kBlock * kLds * 4 + 127) / 128) * 128;
  static constexpr int kTileO = ((kBlock * kLdo * 4 + 127) / 128) * 128;
  static constexpr int kRows = ((kBlock * 4 + 127) / 128) * 128;  // one f32 per row
};

/** Copies rows [row0, row0 + 64) of a [T, stride] bf16 matrix, columns [col, col + d), zero past T. */
template <int kD>
__device__ __forceinline__ void LoadTile(bf16* tile, const bf16* base, int stride, int col, int row0, int tokens) {
  constexpr int kChunks = kD / 8;
  for (int index = threadIdx.x; index < kBlock * kChunks; index += kThreads) {
    const int r = index / kChunks;
    const int c = (index % kChunks) * 8;
    const int t = row0 + r;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (t < tokens) value = *reinterpret_cast<const uint4*>(base + static_cast<int64_t>(t) * stride + col + c);
    *reinterpret_cast<uint4*>(tile + r * Layout<kD>::kLdb + c) = value;
  }
}

/** s[16 x 64] (f32, ld kLds) = a[16 x d] . b[64 x d]^T for the warp's 16 rows of `a`. */
template <int kD>
__device__ __forceinline__ void RowsTimesTransposed(const bf16* a, const bf16* b, float* s) {
  using L = Layout<kD>;
#pragma unroll
  for (int nt = 0; nt < kBlock / 16; ++nt) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int ks = 0; ks < kD / 16; ++ks) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
      wmma::load_matrix_sync(fa, a + ks * 16, L::kLdb);
      wmma::load_matrix_sync(fb, b + nt * 16 * L::kLdb + ks * 16, L::kLdb);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(s + nt * 16, acc, L::kLds, wmma::mem_row_major);
  }
}

/** acc[dt] += p[16 x 64] (bf16, ld kLdp) . v[64 x d] (bf16, ld kLdb), one fragment per 16 columns. */
template <int kD>
__device__ __forceinline__ void RowsTimesTile(const bf16* p, const bf16* v,
                                              wmma::fragment<wmma::accumulator, 16, 16, 16, float> (&acc)[kD / 16]) {
  using L = Layout<kD>;
#pragma unroll
  for (int ks = 0; ks < kBlock / 16; ++ks) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, p + ks * 16, L::kLdp);
#pragma unroll
    for (int dt = 0; dt < kD / 16; ++dt) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
      wmma::load_matrix_sync(fb, v + ks * 16 * L::kLdb + dt * 16, L::kLdb);
      wmma::mma_sync(acc[dt], fa, fb, acc[dt]);
    }
  }
}

/** The key blocks query block `qb` visits: sink blocks, then its recent blocks, no block twice. */
struct KeyBlocks {
  int sink_last;     // sink blocks 0..sink_last (-1: none)
  int recent_first;  // recent blocks recent_first..last
  int last;
  __device__ int count() const { return (sink_last + 1) + (last - recent_first + 1); }
  __device__ int at(int n) const { return n <= sink_last ? n : recent_first + (n - sink_last - 1); }
};

__device__ __forceinline__ KeyBlocks KeyBlocksOf(const Params& p, int qb) {
  const int q0 = qb * kBlock;
  const int q1 = min(q0 + kBlock - 1, p.tokens - 1);
  const int sink_end = min(MaskSinkEnd(p.mask), q1 + 1);
  const int recent_lo = max(MaskRecentStart(p.mask, q0), 0);
  KeyBlocks k;
  k.last = q1 / kBlock;
  if (recent_lo <= sink_end) {
    k.sink_last = -1;
    k.recent_first = 0;
  } else {
    k.sink_last = sink_end > 0 ? (sink_end - 1) / kBlock : -1;
    k.recent_first = max(recent_lo / kBlock, k.sink_last + 1);
  }
  return k;
}

/** 2^x (ex2.approx, as the prefill kernel); 2^-inf = +0. */
__device__ __forceinline__ float Exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/** Query row i's visible key ranges [0, sink_end) and [recent_start, i], as two bounds. */
struct RowMask {
  int sink_end;
  int recent_start;
  int last;  // i, or -1 for a row past the sequence (sees nothing)
  __device__ bool sees(int j) const { return j <= last && (j < sink_end || j >= recent_start); }
};

__device__ __forceinline__ RowMask RowMaskOf(const Params& p, int i) {
  RowMask m;
  m.sink_end = MaskSinkEnd(p.mask);
  m.recent_start = MaskRecentStart(p.mask, i);
  m.last = i < p.tokens ? min(i, p.tokens - 1) : -1;
  return m;
}

// ---- forward -------------------------------------------------------------------------------
//
// Shared memory (d = 128: 94 KB, two CTAs per SM): K, V, S (f32), P (bf16), O (f32). Q lives in
// registers as matrix_a fragments for the whole key loop. The two lanes of a row take alternate
// columns, so the 32 lanes of a warp touch 32 distinct banks.

template <int kD>
__global__ void __launch_bounds__(kThreads) ForwardKernel(Params p, bf16* out, float* lse) {
  using L = Layout<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* ks = reinterpret_cast<bf16*>(smem);
  bf16* vs = reinterpret_cast<bf16*>(smem + L::kTileB);
  float* sf = reinterpret_cast<float*>(smem + 2 * L::kTileB);
  bf16* pb = reinterpret_cast<bf16*>(smem + 2 * L::kTileB + L::kTileS);
  float* of = reinterpret_cast<float*>(smem + 2 * L::kTileB + L::kTileS + L::kTileP);
  float* row_max = reinterpret_cast<float*>(smem + 2 * L::kTileB + L::kTileS + L::kTileP + L::kTileO);
  float* row_sum = row_max + kBlock;

  const int qb = blockIdx.x;
  const int head = blockIdx.y;
  const int kv = head / p.group;
  const int q0 = qb * kBlock;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  // Q through the K buffer into registers.
  LoadTile<kD>(ks, p.qkv, p.qkv_stride, head * kD, q0, p.tokens);
  for (int index = threadIdx.x; index < kBlock * L::kLdo; index += kThreads) of[index] = 0.0f;
  if (threadIdx.x < kBlock) {
    row_max[threadIdx.x] = -INFINITY;
    row_sum[threadIdx.x] = 0.0f;
  }
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qf[kD / 16];
#pragma unroll
  for (int step = 0; step < kD / 16; ++step) wmma::load_matrix_sync(qf[step], ks + warp * 16 * L::kLdb + step * 16, L::kLdb);
  const KeyBlocks blocks = KeyBlocksOf(p, qb);
  const int row = warp * 16 + lane / 2;  // this lane's row for the softmax
  const int half = lane % 2;             // and its alternate columns
  const RowMask mask = RowMaskOf(p, q0 + row);
  for (int n = 0; n < blocks.count(); ++n) {
    const int k0 = blocks.at(n) * kBlock;
    __syncthreads();  // the previous block's K and V (or Q, first) are no longer read
    LoadTile<kD>(ks, p.qkv, p.qkv_stride, (p.num_q_heads + kv) * kD, k0, p.tokens);
    LoadTile<kD>(vs, p.qkv, p.qkv_stride, (p.num_q_heads + p.num_kv_heads + kv) * kD, k0, p.tokens);
    __syncthreads();
#pragma unroll
    for (int nt = 0; nt < kBlock / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int step = 0; step < kD / 16; ++step) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
        wmma::load_matrix_sync(fb, ks + nt * 16 * L::kLdb + step * 16, L::kLdb);
        wmma::mma_sync(acc, qf[step], fb, acc);
      }
      wmma::store_matrix_sync(sf + warp * 16 * L::kLds + nt * 16, acc, L::kLds, wmma::mem_row_major);
    }
    __syncwarp();
    float* srow = sf + row * L::kLds;
    float local = -INFINITY;
    for (int jj = half; jj < kBlock; jj += 2) {
      const float s = mask.sees(k0 + jj) ? srow[jj] * p.scale_log2 : -INFINITY;
      srow[jj] = s;
      local = fmaxf(local, s);
    }
    local = fmaxf(local, __shfl_xor_sync(0xffffffffu, local, 1));
    const float old_max = row_max[row];
    const float new_max = fmaxf(old_max, local);
    const float alpha = old_max == -INFINITY ? 0.0f : Exp2(old_max - new_max);
    float sum = 0.0f;
    bf16* prow = pb + row * L::kLdp;
    for (int jj = half; jj < kBlock; jj += 2) {
      const float e = new_max == -INFINITY ? 0.0f : Exp2(srow[jj] - new_max);
      prow[jj] = __float2bfloat16(e);
      sum += e;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    if (alpha != 1.0f) {
      float* orow = of + row * L::kLdo;
      for (int c = half; c < kD; c += 2) orow[c] *= alpha;
    }
    __syncwarp();
    if (half == 0) {
      row_sum[row] = row_sum[row] * alpha + sum;
      row_max[row] = new_max;
    }
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kD / 16];
#pragma unroll
    for (int dt = 0; dt < kD / 16; ++dt) {
      wmma::load_matrix_sync(acc[dt], of + warp * 16 * L::kLdo + dt * 16, L::kLdo, wmma::mem_row_major);
    }
    RowsTimesTile<kD>(pb + warp * 16 * L::kLdp, vs, acc);
#pragma unroll
    for (int dt = 0; dt < kD / 16; ++dt) {
      wmma::store_matrix_sync(of + warp * 16 * L::kLdo + dt * 16, acc[dt], L::kLdo, wmma::mem_row_major);
    }
  }
  __syncthreads();
  const int out_stride = p.num_q_heads * kD;
  for (int index = threadIdx.x; index < kBlock * kD; index += kThreads) {
    const int r = index / kD;
    const int c = index % kD;
    const int t = q0 + r;
    if (t < p.tokens) {
      out[static_cast<int64_t>(t) * out_stride + head * kD + c] = __float2bfloat16(of[r * L::kLdo + c] / row_sum[r]);
    }
  }
  if (threadIdx.x < kBlock && q0 + threadIdx.x < p.tokens) {
    lse[static_cast<int64_t>(head) * p.tokens + q0 + threadIdx.x] =
        row_max[threadIdx.x] + log2f(row_sum[threadIdx.x]);
  }
}

// ---- backward ------------------------------------------------------------------------------

/** delta[h, t] = sum_c dO[t, h, c] * O[t, h, c]. One warp per (t, h). */
__global__ void DeltaKernel(const bf16* out, const bf16* dout, int tokens, int num_q_heads, int head_dim,
                            float* delta) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= tokens * num_q_heads) return;
  const int t = warp / num_q_heads;
  const int h = warp % num_q_heads;
  const int64_t base = static_cast<int64_t>(t) * num_q_heads * head_dim + h * head_dim;
  float sum = 0.0f;
  for (int c = lane; c < head_dim; c += 32) sum += __bfloat162float(out[base + c]) * __bfloat162float(dout[base + c]);
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane == 0) delta[static_cast<int64_t>(h) * tokens + t] = sum;
}

// dQ. Shared memory (d = 128: 94 KB): Q, dO, K, V, one f32 tile that holds the scores and then dP,
// one bf16 tile that holds P and then dS; the final f32 stage reuses K and V.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    DqKernel(Params p, const bf16* dout, const float* lse, const float* delta, float* dq) {
  using L = Layout<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* dos = reinterpret_cast<bf16*>(smem + L::kTileB);
  bf16* ks = reinterpret_cast<bf16*>(smem + 2 * L::kTileB);
  bf16* vs = reinterpret_cast<bf16*>(smem + 3 * L::kTileB);
  float* sf = reinterpret_cast<float*>(smem + 4 * L::kTileB);
  bf16* pb = reinterpret_cast<bf16*>(smem + 4 * L::kTileB + L::kTileS);
  float* row_lse = reinterpret_cast<float*>(smem + 4 * L::kTileB + L::kTileS + L::kTileP);
  float* row_delta = row_lse + kBlock;
  float* stage = reinterpret_cast<float*>(smem + 2 * L::kTileB);  // after the loop: K and V are free

  const int qb = blockIdx.x;
  const int head = blockIdx.y;
  const int kv = head / p.group;
  const int q0 = qb * kBlock;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int out_stride = p.num_q_heads * kD;
  LoadTile<kD>(qs, p.qkv, p.qkv_stride, head * kD, q0, p.tokens);
  LoadTile<kD>(dos, dout, out_stride, head * kD, q0, p.tokens);
  if (threadIdx.x < kBlock) {
    const int t = q0 + threadIdx.x;
    row_lse[threadIdx.x] = t < p.tokens ? lse[static_cast<int64_t>(head) * p.tokens + t] : 0.0f;
    row_delta[threadIdx.x] = t < p.tokens ? delta[static_cast<int64_t>(head) * p.tokens + t] : 0.0f;
  }
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kD / 16];
#pragma unroll
  for (int dt = 0; dt < kD / 16; ++dt) wmma::fill_fragment(acc[dt], 0.0f);
  const KeyBlocks blocks = KeyBlocksOf(p, qb);
  const int row = warp * 16 + lane / 2;
  const int half = lane % 2;
  const RowMask mask = RowMaskOf(p, q0 + row);
  for (int n = 0; n < blocks.count(); ++n) {
    const int k0 = blocks.at(n) * kBlock;
    __syncthreads();
    LoadTile<kD>(ks, p.qkv, p.qkv_stride, (p.num_q_heads + kv) * kD, k0, p.tokens);
    LoadTile<kD>(vs, p.qkv, p.qkv_stride, (p.num_q_heads + p.num_kv_heads + kv) * kD, k0, p.tokens);
    __syncthreads();
    float* srow = sf + row * L::kLds;
    bf16* prow = pb + row * L::kLdp;
    const float lse_row = row_lse[row];
    const float delta_row = row_delta[row];
    RowsTimesTransposed<kD>(qs + warp * 16 * L::kLdb, ks, sf + warp * 16 * L::kLds);
    __syncwarp();
    for (int jj = half; jj < kBlock; jj += 2) {
      prow[jj] = __float2bfloat16(mask.sees(k0 + jj) ? Exp2(srow[jj] * p.scale_log2 - lse_row) : 0.0f);
    }
    __syncwarp();
    RowsTimesTransposed<kD>(dos + warp * 16 * L::kLdb, vs, sf + warp * 16 * L::kLds);
    __syncwarp();
    for (int jj = half; jj < kBlock; jj += 2) {
      const float prob = __bfloat162float(prow[jj]);
      prow[jj] = __float2bfloat16(prob * (srow[jj] - delta_row) * p.scale);
    }
    __syncwarp();
    RowsTimesTile<kD>(pb + warp * 16 * L::kLdp, ks, acc);
  }
  __syncthreads();  // K and V become the stage
#pragma unroll
  for (int dt = 0; dt < kD / 16; ++dt) {
    wmma::store_matrix_sync(stage + warp * 16 * L::kLdo + dt * 16, acc[dt], L::kLdo, wmma::mem_row_major);
  }
  __syncthreads();
  for (int index = threadIdx.x; index < kBlock * kD; index += kThreads) {
    const int r = index / kD;
    const int c = index % kD;
    const int t = q0 + r;
    if (t < p.tokens) dq[static_cast<int64_t>(t) * out_stride + head * kD + c] = stage[r * L::kLdo + c];
  }
}

// dK and dV. Shared memory (d = 128: 103 KB): K, V (this key block), Q, dO (a query block), one
// f32 tile (S^T, then dP^T), P^T and dS^T in bf16; the stage reuses Q and dO at the end.
template <int kD>
__global__ void __launch_bounds__(kThreads) DkvKernel(Params p, const bf16* dout, const float* lse,
                                                      const float* delta, const TrainingAttentionWorkItem* items,
                                                      float* dk, float* dv) {
  using L = Layout<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* ks = reinterpret_cast<bf16*>(smem);
  bf16* vs = reinterpret_cast<bf16*>(smem + L::kTileB);
  bf16* qs = reinterpret_cast<bf16*>(smem + 2 * L::kTileB);
  bf16* dos = reinterpret_cast<bf16*>(smem + 3 * L::kTileB);
  float* stf = reinterpret_cast<float*>(smem + 4 * L::kTileB);
  bf16* ptb = reinterpret_cast<bf16*>(smem + 4 * L::kTileB + L::kTileS);
  bf16* dstb = reinterpret_cast<bf16*>(smem + 4 * L::kTileB + L::kTileS + L::kTileP);
  float* q_lse = reinterpret_cast<float*>(smem + 4 * L::kTileB + L::kTileS + 2 * L::kTileP);
  float* q_delta = q_lse + kBlock;
  float* stage = reinterpret_cast<float*>(smem + 2 * L::kTileB);  // after the loop: Q and dO are free

  const TrainingAttentionWorkItem item = items[blockIdx.x];
  const int kv = blockIdx.y;
  const int k0 = item.key_block * kBlock;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int out_stride = p.num_q_heads * kD;
  LoadTile<kD>(ks, p.qkv, p.qkv_stride, (p.num_q_heads + kv) * kD, k0, p.tokens);
  LoadTile<kD>(vs, p.qkv, p.qkv_stride, (p.num_q_heads + p.num_kv_heads + kv) * kD, k0, p.tokens);
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> dk_acc[kD / 16];
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> dv_acc[kD / 16];
#pragma unroll
  for (int dt = 0; dt < kD / 16; ++dt) {
    wmma::fill_fragment(dk_acc[dt], 0.0f);
    wmma::fill_fragment(dv_acc[dt], 0.0f);
  }
  const int key_row = warp * 16 + lane / 2;  // this lane's key for the elementwise step
  const int half = lane % 2;                 // and its alternate queries
  const int j = k0 + key_row;
  const int sink_end = MaskSinkEnd(p.mask);
  for (int g = 0; g < p.group; ++g) {
    const int head = kv * p.group + g;
    for (int qb = item.query_begin; qb < item.query_end; ++qb) {
      const int q0 = qb * kBlock;
      __syncthreads();
      LoadTile<kD>(qs, p.qkv, p.qkv_stride, head * kD, q0, p.tokens);
      LoadTile<kD>(dos, dout, out_stride, head * kD, q0, p.tokens);
      if (threadIdx.x < kBlock) {
        const int t = q0 + threadIdx.x;
        q_lse[threadIdx.x] = t < p.tokens ? lse[static_cast<int64_t>(head) * p.tokens + t] : 0.0f;
        q_delta[threadIdx.x] = t < p.tokens ? delta[static_cast<int64_t>(head) * p.tokens + t] : 0.0f;
      }
      __syncthreads();
      float* srow = stf + key_row * L::kLds;
      bf16* prow = ptb + key_row * L::kLdp;
      bf16* dsrow = dstb + key_row * L::kLdp;
      RowsTimesTransposed<kD>(ks + warp * 16 * L::kLdb, qs, stf + warp * 16 * L::kLds);
      __syncwarp();
      for (int qq = half; qq < kBlock; qq += 2) {
        const int i = q0 + qq;
        const bool visible = i < p.tokens && j < p.tokens && j <= i && (j < sink_end || j >= MaskRecentStart(p.mask, i));
        prow[qq] = __float2bfloat16(visible ? Exp2(srow[qq] * p.scale_log2 - q_lse[qq]) : 0.0f);
      }
      __syncwarp();
      RowsTimesTransposed<kD>(vs + warp * 16 * L::kLdb, dos, stf + warp * 16 * L::kLds);
      __syncwarp();
      for (int qq = half; qq < kBlock; qq += 2) {
        dsrow[qq] = __float2bfloat16(__bfloat162float(prow[qq]) * (srow[qq] - q_delta[qq]) * p.scale);
      }
      __syncwarp();
      RowsTimesTile<kD>(ptb + warp * 16 * L::kLdp, dos, dv_acc);
      RowsTimesTile<kD>(dstb + warp * 16 * L::kLdp, qs, dk_acc);
    }
  }
  const int kv_stride = p.num_kv_heads * kD;
  for (int which = 0; which < 2; ++which) {
    __syncthreads();
#pragma unroll
    for (int dt = 0; dt < kD / 16; ++dt) {
      wmma::store_matrix_sync(stage + warp * 16 * L::kLdo + dt * 16, which == 0 ? dk_acc[dt] : dv_acc[dt], L::kLdo,
                              wmma::mem_row_major);
    }
    __syncthreads();
    float* target = which == 0 ? dk : dv;
    for (int index = threadIdx.x; index < kBlock * kD; index += kThreads) {
      const int r = index / kD;
      const int c = index % kD;
      const int t = k0 + r;
      if (t < p.tokens) atomicAdd(target + static_cast<int64_t>(t) * kv_stride + kv * kD + c, stage[r * L::kLdo + c]);
    }
  }
}

template <int kD>
constexpr int ForwardSmem() {
  using L = Layout<kD>;
  return 2 * L::kTileB + L::kTileS + L::kTileP + L::kTileO + 2 * L::kRows;
}
template <int kD>
constexpr int DqSmem() {
  using L = Layout<kD>;
  static_assert(2 * Layout<kD>::kTileB >= Layout<kD>::kTileO, "the dQ stage must fit in K and V");
  return 4 * L::kTileB + L::kTileS + L::kTileP + 2 * L::kRows;
}
template <int kD>
constexpr int DkvSmem() {
  using L = Layout<kD>;
  static_assert(2 * Layout<kD>::kTileB >= Layout<kD>::kTileO, "the dK/dV stage must fit in Q and dO");
  return 4 * L::kTileB + L::kTileS + 2 * L::kTileP + 2 * L::kRows;
}

/** Raises a kernel's dynamic shared-memory limit when it needs more than the default 48 KB. */
template <typename Kernel>
cudaError_t AllowSmem(Kernel kernel, int bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  int device = 0;
  cudaError_t error = cudaGetDevice(&device);
  if (error != cudaSuccess) return error;
  int limit = 0;
  error = cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (error != cudaSuccess) return error;
  if (bytes > limit) return cudaErrorNotSupported;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

template <int kD>
cudaError_t Forward(const Params& p, bf16* out, float* lse, cudaStream_t stream) {
  const int bytes = ForwardSmem<kD>();
  cudaError_t error = AllowSmem(ForwardKernel<kD>, bytes);
  if (error != cudaSuccess) return error;
  const dim3 grid((p.tokens + kBlock - 1) / kBlock, p.num_q_heads);
  ForwardKernel<kD><<<grid, kThreads, bytes, stream>>>(p, out, lse);
  return cudaGetLastError();
}

template <int kD>
cudaError_t Backward(const Params& p, const bf16* out, const float* lse, const bf16* dout, float* delta, float* dq,
                     float* dk, float* dv, const TrainingAttentionWorkItem* items, int num_items,
                     cudaStream_t stream) {
  const int warps = p.tokens * p.num_q_heads;
  DeltaKernel<<<(warps * 32 + 255) / 256, 256, 0, stream>>>(out, dout, p.tokens, p.num_q_heads, kD, delta);
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) return error;
  const int dq_bytes = DqSmem<kD>();
  error = AllowSmem(DqKernel<kD>, dq_bytes);
  if (error != cudaSuccess) return error;
  DqKernel<kD><<<dim3((p.tokens + kBlock - 1) / kBlock, p.num_q_heads), kThreads, dq_bytes, stream>>>(p, dout, lse,
                                                                                                     delta, dq);
  error = cudaGetLastError();
  if (error != cudaSuccess) return error;
  const std::size_t kv_bytes = static_cast<std::size_t>(p.tokens) * p.num_kv_heads * kD * sizeof(float);
  error = cudaMemsetAsync(dk, 0, kv_bytes, stream);
  if (error == cudaSuccess) error = cudaMemsetAsync(dv, 0, kv_bytes, stream);
  if (error != cudaSuccess) return error;
  const int dkv_bytes = DkvSmem<kD>();
  error = AllowSmem(DkvKernel<kD>, dkv_bytes);
  if (error != cudaSuccess) return error;
  DkvKernel<kD><<<dim3(num_items, p.num_kv_heads), kThreads, dkv_bytes, stream>>>(p, dout, lse, delta, items, dk, dv);
  return cudaGetLastError();
}

bool Valid(const TrainingAttentionArgs& a) {
  const bool dims = a.head_dim == 16 || a.head_dim == 32 || a.head_dim == 64 || a.head_dim == 128;
  return a.qkv != nullptr && a.tokens >= 1 && a.num_kv_heads >= 1 && a.num_q_heads % a.num_kv_heads == 0 && dims &&
         a.scale > 0 && a.mask.recent >= 1 && a.mask.sink >= 0 && (a.mask.kind == 0 || a.mask.block >= 1);
}

}  // namespace training_attention_detail

using namespace training_attention_detail;

std::vector<TrainingAttentionWorkItem> TrainingAttentionWorkItems(const TrainingMask& mask, int tokens, int max_blocks) {
  std::vector<TrainingAttentionWorkItem> items;
  const int blocks = (tokens + kBlock - 1) / kBlock;
  for (int kb = 0; kb < blocks; ++kb) {
    const int k0 = kb * kBlock;
    const int k1 = std::min(k0 + kBlock - 1, tokens - 1);
    const int first = kb;  // a key is seen only by queries at or after it
    const int last = MaskLastQuery(mask, k0, k1, tokens) / kBlock;
    for (int begin = first; begin <= last; begin += max_blocks) {
      items.push_back({kb, begin, std::min(begin + max_blocks, last + 1)});
    }
  }
  return items;
}

cudaError_t LaunchTrainingAttentionForward(const TrainingAttentionArgs& args, __nv_bfloat16* out, float* lse,
                                           cudaStream_t stream) {
  if (!Valid(args) || out == nullptr || lse == nullptr) return cudaErrorInvalidValue;
  const Params p = MakeParams(args);
  switch (args.head_dim) {
    case 16: return Forward<16>(p, out, lse, stream);
    case 32: return Forward<32>(p, out, lse, stream);
    case 64: return Forward<64>(p, out, lse, stream);
    default: return Forward<128>(p, out, lse, stream);
  }
}

cudaError_t LaunchTrainingAttentionBackward(const TrainingAttentionArgs& args, const __nv_bfloat16* out,
                                            const float* lse, const __nv_bfloat16* dout, float* delta, float* dq,
                                            float* dk, float* dv, const TrainingAttentionWorkItem* items,
                                            int num_items, cudaStream_t stream) {
  if (!Valid(args) || out == nullptr || lse == nullptr || dout == nullptr || delta == nullptr || dq == nullptr ||
      dk == nullptr || dv == nullptr || items == nullptr || num_items < 1) {
    return cudaErrorInvalidValue;
  }
  const Params p = MakeParams(args);
  switch (args.head_dim) {
    case 16: return Backward<16>(p, out, lse, dout, delta, dq, dk, dv, items, num_items, stream);
    case 32: return Backward<32>(p, out, lse, dout, delta, dq, dk, dv, items, num_items, stream);
    case 64: return Backward<64>(p, out, lse, dout, delta, dq, dk, dv, items, num_items, stream);
    default: return Backward<128>(p, out, lse, dout, delta, dq, dk, dv, items, num_items, stream);
  }
}

}  // namespace duo
