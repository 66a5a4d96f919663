// Sampling kernels. Argmax is one block of 1024 threads. Sampling is a many-block pass that turns
// the logits into keys (the per-element work is what a single SM is slow at), then ONE block of
// 512 threads that does every selection step, so no grid-wide synchronisation is needed.
//
// LaunchSample, step by step (see sampling.cuh for the semantics):
//  1. (KeysKernel) repetition bitmap: one bit per id seen in previous_tokens (repeats count once).
//  2. (KeysKernel) pass over the logits: key[id] = orderable bits of fl32(score), with score the float64 TS value
//     ((logit / or * penalty) / temperature); NaN check; max key; histogram of the key's top byte.
//  3. top-k by MSB-first radix select on the keys (8-bit digits, histograms in shared memory), stopped
//     as soon as the bin holding the k-th key has <= kEqCap members. Because fl32 is monotone, every
//     key above that bin is a sure member; the bin's members are collected too, re-ranked by their
//     exact float64 score, ties by id, in a shared-memory bitonic sort: the exact TS top-k.
//  4. small top-k: weights, nucleus and draw in float64 over <= 1024 candidates in TS's order.
//     Otherwise (full vocabulary): 31-bit fixed-point weights summed exactly in integers; the top-p
//     cut is a radix search over the weights with weight-sum histograms; the draw is a tiled block
//     scan in id order.
#include "kernels/sampling.cuh"

#include <climits>
#include <cmath>
#include <cstdint>

namespace duo {
namespace {

constexpr int kThreads = 512;                         // sampling block (128 registers per thread)
constexpr int kWarps = kThreads / 32;
constexpr int kArgmaxThreads = 1024;
constexpr int kLogitBatch = 4;                        // 16-byte loads each thread keeps in flight
constexpr int kKeyBatch = 8;                          // (more for the single block's key passes)
constexpr int kSortCap = 2048;                        // candidates sorted in shared memory
constexpr int kEqCap = kSortCap - kSampleSmallTopK;   // members of the k-th key's bin we collect
constexpr uint32_t kWeightOne = 1u << 31;             // fixed-point weight of the top token
constexpr unsigned kFull = 0xffffffffu;

static_assert(kSampleSmallTopK < kSortCap, "the sort must hold the top-k and the tie bin");

__device__ __forceinline__ uint32_t OrderedKey(float f) {
  // -0 and +0 are equal scores in TS (ties go to the lower id), so they share one key.
  const uint32_t bits = __float_as_uint(f == 0.0f ? 0.0f : f);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ float KeyToFloat(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

/**
 * Visits (id, value) for every id of a 4-byte array: 16-byte loads, kBatch of them issued before
 * any is used (one block must keep many loads in flight to stream a row at a useful rate).
 * V4 is float4 or uint4; the array must be 16-byte aligned for the vector part.
 */
template <int kBatch, typename T, typename V4, typename F>
__device__ __forceinline__ void ForEachVector(const T* data, int vocab, F f) {
  const int vecs = vocab / 4;
  const V4* v4 = reinterpret_cast<const V4*>(data);
  const int step = static_cast<int>(blockDim.x);
  int i = threadIdx.x;
  for (; i + (kBatch - 1) * step < vecs; i += kBatch * step) {
    V4 q[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) q[b] = v4[i + b * step];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int id = 4 * (i + b * step);
      f(id, q[b].x);
      f(id + 1, q[b].y);
      f(id + 2, q[b].z);
      f(id + 3, q[b].w);
    }
  }
  for (; i < vecs; i += step) {
    const V4 q = v4[i];
    f(4 * i, q.x);
    f(4 * i + 1, q.y);
    f(4 * i + 2, q.z);
    f(4 * i + 3, q.w);
  }
  for (int id = vecs * 4 + threadIdx.x; id < vocab; id += step) f(id, data[id]);
}

/** Visits (id, logit) for every id (scalar loads when the row is not 16-byte aligned). */
template <typename F>
__device__ __forceinline__ void ForEachLogit(const float* logits, int vocab, F f) {
  if ((reinterpret_cast<std::uintptr_t>(logits) & 15u) == 0) {
    ForEachVector<kLogitBatch, float, float4>(logits, vocab, f);
  } else {
    for (int id = threadIdx.x; id < vocab; id += blockDim.x) f(id, logits[id]);
  }
}

/** Visits (id, key) over the key workspace (written earlier in this kernel: plain, coherent loads). */
template <typename F>
__device__ __forceinline__ void ForEachKey(const uint32_t* keys, int vocab, F f) {
  ForEachVector<kKeyBatch, uint32_t, uint4>(keys, vocab, f);
}

struct Shared {
  uint32_t hist[256];
  uint32_t hist_lo[256];  // 64-bit weight sums as two 32-bit halves: native 32-bit shared atomics
  uint32_t hist_hi[256];
  unsigned long long hist64[256];
  unsigned long long warp64[kWarps];
  uint32_t warp32[kWarps];
  double val[kSortCap];
  int id[kSortCap];
  int found;
  int count;
  int select_bin;
  unsigned long long select_above;
  double total;
};

/** Shared-memory count histogram adds, merging runs of equal bins per thread (few atomics on hot bins). */
struct RunCounter {
  int bin = -1;
  uint32_t sum = 0;
  __device__ __forceinline__ void Add(uint32_t* hist, int b) {
    if (b != bin) {
      Flush(hist);
      bin = b;
      sum = 0;
    }
    ++sum;
  }
  __device__ __forceinline__ void Flush(uint32_t* hist) {
    if (bin >= 0 && sum != 0) atomicAdd(&hist[bin], sum);
  }
};

/** As RunCounter for 64-bit weight sums kept as lo/hi 32-bit halves (carry added to hi). */
struct RunSummer {
  int bin = -1;
  unsigned long long sum = 0;
  __device__ __forceinline__ void Add(uint32_t* lo, uint32_t* hi, int b, uint32_t value) {
    if (b != bin) {
      Flush(lo, hi);
      bin = b;
      sum = 0;
    }
    sum += value;
  }
  __device__ __forceinline__ void Flush(uint32_t* lo, uint32_t* hi) {
    if (bin < 0 || sum == 0) return;
    const uint32_t low = static_cast<uint32_t>(sum);
    const uint32_t old = atomicAdd(&lo[bin], low);
    const uint32_t high = static_cast<uint32_t>(sum >> 32) + (old + low < old ? 1u : 0u);
    if (high != 0) atomicAdd(&hi[bin], high);
  }
};

__device__ unsigned long long BlockSumU64(unsigned long long v, Shared& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  if ((threadIdx.x & 31) == 0) s.warp64[threadIdx.x >> 5] = v;
  __syncthreads();
  unsigned long long total = 0;
  for (int w = 0; w < kWarps; ++w) total += s.warp64[w];
  __syncthreads();
  return total;
}

__device__ uint32_t BlockMaxU32(uint32_t v, Shared& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(kFull, v, o));
  if ((threadIdx.x & 31) == 0) s.warp32[threadIdx.x >> 5] = v;
  __syncthreads();
  uint32_t best = 0;
  for (int w = 0; w < kWarps; ++w) best = max(best, s.warp32[w]);
  __syncthreads();
  return best;
}

/** Exclusive prefix of `local` over the block in thread order, and the block total. The caller
 *  must __syncthreads() before the next call (warp64 is reused). */
__device__ void BlockExclusiveScan(unsigned long long local, unsigned long long& exclusive, unsigned long long& total,
                                   Shared& s) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  unsigned long long x = local;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const unsigned long long y = __shfl_up_sync(kFull, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) s.warp64[warp] = x;
  __syncthreads();
  unsigned long long before = 0;
  unsigned long long all = 0;
  for (int w = 0; w < kWarps; ++w) {
    const unsigned long long t = s.warp64[w];
    if (w < warp) before += t;
    all += t;
  }
  exclusive = before + x - local;
  total = all;
}

/**
 * The smallest id whose inclusive prefix sum of value(id, key) (ids ascending) exceeds `threshold`,
 * or -1 if none. Tiles of kPer * kThreads ids; each thread owns kPer consecutive ids of a tile.
 */
template <typename V>
__device__ int ScanFirstAbove(const uint32_t* keys, int vocab, unsigned long long threshold, V value, Shared& s) {
  constexpr int kPer = 16;
  if (threadIdx.x == 0) s.found = -1;
  __syncthreads();
  unsigned long long base = 0;
  for (int tile = 0; tile < vocab; tile += kPer * kThreads) {
    const int first = tile + kPer * static_cast<int>(threadIdx.x);
    uint32_t k[kPer];
    if (first + kPer <= vocab) {
      const uint4* k4 = reinterpret_cast<const uint4*>(keys + first);  // first % 16 == 0: aligned
#pragma unroll
      for (int q = 0; q < kPer / 4; ++q) {
        const uint4 x = k4[q];
        k[4 * q] = x.x;
        k[4 * q + 1] = x.y;
        k[4 * q + 2] = x.z;
        k[4 * q + 3] = x.w;
      }
    } else {
#pragma unroll
      for (int q = 0; q < kPer; ++q) k[q] = first + q < vocab ? keys[first + q] : 0u;
    }
    unsigned long long local = 0;
#pragma unroll
    for (int q = 0; q < kPer; ++q) local += first + q < vocab ? value(first + q, k[q]) : 0ull;
    unsigned long long exclusive;
    unsigned long long tile_total;
    BlockExclusiveScan(local, exclusive, tile_total, s);
    const unsigned long long start = base + exclusive;
    if (start <= threshold && threshold < start + local) {  // exactly one thread: prefixes are monotone
      unsigned long long acc = start;
      for (int q = 0; q < kPer; ++q) {
        acc += first + q < vocab ? value(first + q, k[q]) : 0ull;
        if (acc > threshold) {
          s.found = first + q;
          break;
        }
      }
    }
    base += tile_total;
    __syncthreads();
    if (s.found >= 0) break;
  }
  const int found = s.found;
  __syncthreads();
  return found;
}

/**
 * Warp 0 finds the bin b (scanning from the top) where the running sum crosses `need`:
 * above(b) < need <= above(b) + hist[b], with above(b) the sum of the bins over b. Result in
 * s.select_bin / s.select_above; ends with a barrier.
 */
template <typename T>
__device__ void SelectBin(const T* hist, T need, Shared& s) {
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    if (lane == 0) {
      s.select_bin = 0;
      s.select_above = 0;
    }
    __syncwarp();
    T local = 0;
#pragma unroll
    for (int q = 0; q < 8; ++q) local += hist[255 - 8 * lane - q];
    T inclusive = local;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const T y = __shfl_up_sync(kFull, inclusive, o);
      if (lane >= o) inclusive += y;
    }
    const T exclusive = inclusive - local;
    if (exclusive < need && need <= inclusive) {
      T acc = exclusive;
      for (int q = 0; q < 8; ++q) {
        const int b = 255 - 8 * lane - q;
        if (acc + hist[b] >= need) {
          s.select_bin = b;
          s.select_above = acc;
          break;
        }
        acc += hist[b];
      }
    }
  }
  __syncthreads();
}

/** Bitonic sort of s.val/s.id[0, n) (n a power of two, <= kSortCap) into rank order: by id
 *  ascending, or by value descending then id ascending. */
template <bool kById>
__device__ void BitonicSort(Shared& s, int n) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < n / 2; i += kThreads) {
        const int lo = 2 * i - (i & (stride - 1));
        const int hi = lo + stride;
        const bool up = (lo & size) == 0;
        const bool hi_first = kById ? s.id[hi] < s.id[lo]
                                    : (s.val[hi] > s.val[lo] || (s.val[hi] == s.val[lo] && s.id[hi] < s.id[lo]));
        if (hi_first == up) {
          const double tv = s.val[lo];
          s.val[lo] = s.val[hi];
          s.val[hi] = tv;
          const int ti = s.id[lo];
          s.id[lo] = s.id[hi];
          s.id[hi] = ti;
        }
      }
      __syncthreads();
    }
  }
}

__device__ __forceinline__ int NextPow2(int n) {
  int p = 2;
  while (p < n) p <<= 1;
  return p;
}

/** The TS score of one id (float64) and its fp32 rounding. */
struct Scorer {
  const float* logits;
  const uint32_t* bitmap;  // null: no penalty
  double penalty;
  float temperature;  // 1 for greedy

  __device__ __forceinline__ bool Penalized(int id) const {
    return bitmap != nullptr && ((bitmap[id >> 5] >> (id & 31)) & 1u) != 0;
  }
  __device__ __forceinline__ double Score(float logit, bool penalized) const {
    double v = logit;
    if (penalized) v = v > 0.0 ? __ddiv_rn(v, penalty) : __dmul_rn(v, penalty);
    return __ddiv_rn(v, static_cast<double>(temperature));
  }
  /** fl32(Score). Unpenalised: one fp32 division gives it, since rounding a quotient of fp32
   *  values to float64 and then to fp32 equals rounding it to fp32 directly (53 >= 2 * 24 + 2). */
  __device__ __forceinline__ float ScoreF(float logit, bool penalized) const {
    if (penalized) return __double2float_rn(Score(logit, true));
    return __fdiv_rn(logit, temperature);
  }
};

/** Per key block: NaN seen, max key, top-byte histogram (written by KeysKernel, read by SampleKernel). */
constexpr int kKeyChunk = 4096;  // ids per KeysKernel block (a multiple of 32 and of 4)
constexpr int kKeyThreads = 256;
constexpr int kPartialWords = 2 + 256;

__host__ __device__ __forceinline__ int KeyBlocks(int vocab) { return (vocab + kKeyChunk - 1) / kKeyChunk; }

struct SampleArgs {
  const float* logits;
  int vocab;
  bool greedy;
  float temperature;
  int top_k;
  float top_p;
  float penalty;
  bool use_penalty;
  const int32_t* previous;
  int num_previous;
  float uniform;
  uint32_t* keys;
  uint32_t* bitmap;
  uint32_t* partials;  // [KeyBlocks(vocab)][kPartialWords]
  int32_t* out;
};

/**
 * Steps 1-2 over many blocks (a single SM is compute-bound on them): block b owns ids
 * [b * kKeyChunk, ...), builds their repetition bits in shared memory (then stores those bitmap
 * words, so no clearing pass is needed), writes their keys, and its partial NaN / max / histogram.
 */
__global__ void __launch_bounds__(kKeyThreads) KeysKernel(SampleArgs a) {
  __shared__ uint32_t bits[kKeyChunk / 32];
  __shared__ uint32_t hist[256];
  __shared__ uint32_t warp_max[kKeyThreads / 32];
  const int tid = threadIdx.x;
  const int lo = blockIdx.x * kKeyChunk;
  const int count = min(kKeyChunk, a.vocab - lo);
  for (int i = tid; i < kKeyChunk / 32; i += kKeyThreads) bits[i] = 0;
  for (int i = tid; i < 256; i += kKeyThreads) hist[i] = 0;
  __syncthreads();
  if (a.use_penalty) {
    for (int i = tid; i < a.num_previous; i += kKeyThreads) {
      const int id = a.previous[i] - lo;
      if (id >= 0 && id < count) atomicOr(&bits[id >> 5], 1u << (id & 31));
    }
    __syncthreads();
    for (int w = tid; w < (count + 31) / 32; w += kKeyThreads) a.bitmap[(lo >> 5) + w] = bits[w];
  }
  const Scorer scorer{a.logits, nullptr, static_cast<double>(a.penalty), a.greedy ? 1.0f : a.temperature};
  bool nan = false;
  uint32_t max_key = 0;
  RunCounter adder;
  auto visit = [&](int local, float logit) {
    const bool penalized = a.use_penalty && ((bits[local >> 5] >> (local & 31)) & 1u) != 0;
    const float f = scorer.ScoreF(logit, penalized);
    nan |= isnan(f);
    const uint32_t key = OrderedKey(f);
    a.keys[lo + local] = key;
    max_key = max(max_key, key);
    adder.Add(hist, static_cast<int>(key >> 24));
  };
  ForEachLogit(a.logits + lo, count, visit);
  adder.Flush(hist);
  const bool any_nan = __syncthreads_or(nan);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) max_key = max(max_key, __shfl_xor_sync(kFull, max_key, o));
  if ((tid & 31) == 0) warp_max[tid >> 5] = max_key;
  __syncthreads();
  uint32_t* partial = a.partials + static_cast<std::size_t>(blockIdx.x) * kPartialWords;
  if (tid == 0) {
    uint32_t m = 0;
    for (int w = 0; w < kKeyThreads / 32; ++w) m = max(m, warp_max[w]);
    partial[0] = any_nan ? 1u : 0u;
    partial[1] = m;
  }
  for (int i = tid; i < 256; i += kKeyThreads) partial[2 + i] = hist[i];
}

__global__ void __launch_bounds__(kThreads) SampleKernel(SampleArgs a) {
  __shared__ Shared s;
  const int tid = threadIdx.x;
  const int vocab = a.vocab;

  const Scorer scorer{a.logits, a.use_penalty ? a.bitmap : nullptr, static_cast<double>(a.penalty),
                      a.greedy ? 1.0f : a.temperature};
  const bool small = a.greedy || (a.top_k > 0 && a.top_k < vocab && a.top_k <= kSampleSmallTopK);
  const bool large_top_k = !a.greedy && a.top_k > kSampleSmallTopK && a.top_k < vocab;
  const bool select = small || large_top_k;
  const uint32_t k = a.greedy ? 1u : static_cast<uint32_t>(a.top_k);

  // 2. Combine KeysKernel's partial NaN flags, maxima and top-byte histograms.
  const int key_blocks = KeyBlocks(vocab);
  bool nan = false;
  uint32_t max_key = 0;
  for (int b = tid; b < key_blocks; b += kThreads) {
    nan |= a.partials[static_cast<std::size_t>(b) * kPartialWords] != 0;
    max_key = max(max_key, a.partials[static_cast<std::size_t>(b) * kPartialWords + 1]);
  }
  for (int bin = tid; bin < 256; bin += kThreads) {
    uint32_t sum = 0;
    for (int b = 0; b < key_blocks; ++b) sum += a.partials[static_cast<std::size_t>(b) * kPartialWords + 2 + bin];
    s.hist[bin] = sum;
  }
  if (__syncthreads_or(nan)) {
    if (tid == 0) *a.out = kSampleNaN;
    return;
  }
  max_key = BlockMaxU32(max_key, s);
  if (!a.greedy && max_key == OrderedKey(-INFINITY)) {
    if (tid == 0) *a.out = kSampleAllNegInf;
    return;
  }

  // 3. Radix select of the k-th key: afterwards the sure members are the keys with
  //    (key >> shift) > prefix, and k_rem more come from those with (key >> shift) == prefix.
  int shift = 24;
  uint32_t prefix = 0;
  uint32_t k_rem = k;
  bool cut_mode = false;
  int cut = INT_MAX;
  if (select) {
    uint32_t eq = 0;
    for (;;) {
      SelectBin<uint32_t>(s.hist, k_rem, s);
      const uint32_t bin = static_cast<uint32_t>(s.select_bin);
      eq = s.hist[bin];
      k_rem -= static_cast<uint32_t>(s.select_above);
      prefix = (prefix << 8) | bin;
      const bool done = shift == 0 || (small ? eq <= static_cast<uint32_t>(kEqCap) : eq == k_rem);
      __syncthreads();  // every thread has read the histogram before it is cleared
      if (done) break;
      shift -= 8;
      for (int i = tid; i < 256; i += kThreads) s.hist[i] = 0;
      __syncthreads();
      RunCounter adder;
      const int sh = shift;
      const uint32_t pre = prefix;
      ForEachKey(a.keys, vocab, [&](int, uint32_t key) {
        if ((key >> (sh + 8)) == pre) adder.Add(s.hist, static_cast<int>((key >> sh) & 255u));
      });
      adder.Flush(s.hist);
      __syncthreads();
    }
    // Still more tied keys than we can re-rank (or than k for the large path): equal fp32 keys go
    // by id. Their float64 scores can differ only through a penalty or a temperature > 1 merging
    // adjacent fp32 logits; documented in sampling.cuh.
    if (shift == 0 && (small ? eq > static_cast<uint32_t>(kEqCap) : eq > k_rem)) {
      cut_mode = true;
      const uint32_t tau = prefix;
      cut = ScanFirstAbove(a.keys, vocab, k_rem - 1, [&](int, uint32_t key) { return key == tau ? 1ull : 0ull; }, s);
    }
  }
  const int sel_shift = shift;
  const uint32_t sel_prefix = prefix;
  auto in_top_k = [&](int id, uint32_t key) {
    if (!select) return true;
    const uint32_t hi = key >> sel_shift;
    return hi > sel_prefix || (hi == sel_prefix && (!cut_mode || id <= cut));
  };

  if (small) {
    // 4a. Collect the candidates, rank them by (float64 score desc, id asc).
    if (tid == 0) s.count = 0;
    __syncthreads();
    ForEachKey(a.keys, vocab, [&](int id, uint32_t key) {
      if (in_top_k(id, key)) {
        const int pos = atomicAdd(&s.count, 1);
        if (pos < kSortCap) s.id[pos] = id;
      }
    });
    __syncthreads();
    const int n = min(s.count, kSortCap);
    const int n2 = NextPow2(n);
    for (int i = tid; i < n2; i += kThreads) {
      if (i < n) {
        s.val[i] = scorer.Score(a.logits[s.id[i]], scorer.Penalized(s.id[i]));
      } else {
        s.val[i] = -INFINITY;
        s.id[i] = INT_MAX;
      }
    }
    __syncthreads();
    BitonicSort<false>(s, n2);
    if (a.greedy) {
      if (tid == 0) *a.out = s.id[0];
      return;
    }
    // TS: weight = score == max ? 1 : exp(score - max) over the top-k candidates.
    const int kk = static_cast<int>(k);
    const double max_score = s.val[0];
    __syncthreads();
    const int k2 = NextPow2(kk);
    for (int i = tid; i < k2; i += kThreads) {
      if (i < kk) {
        s.val[i] = s.val[i] == max_score ? 1.0 : exp(s.val[i] - max_score);
      } else {
        s.val[i] = -1.0;
        s.id[i] = INT_MAX;
      }
    }
    __syncthreads();
    const bool top_p = a.top_p < 1.0f;
    if (top_p) BitonicSort<false>(s, k2);  // nucleus order: (weight desc, id asc)
    if (tid == 0) {
      double total = 0;
      for (int i = 0; i < kk; ++i) total += s.val[i];
      int kept = kk;
      double kept_total = total;
      if (top_p) {
        // The fewest leading tokens whose running sum reaches top_p * total; all if rounding
        // keeps the sum short. Their total is that running sum (same order as TS).
        const double target = static_cast<double>(a.top_p) * total;
        double cumulative = 0;
        for (int i = 0; i < kk; ++i) {
          cumulative += s.val[i];
          if (cumulative >= target) {
            kept = i + 1;
            break;
          }
        }
        kept_total = cumulative;
      }
      s.count = kept;
      s.total = kept_total;
    }
    __syncthreads();
    const int kept = s.count;
    const double kept_total = s.total;
    const int kept2 = NextPow2(kept);
    for (int i = kept + tid; i < kept2; i += kThreads) s.id[i] = INT_MAX;
    __syncthreads();
    BitonicSort<true>(s, kept2);
    if (tid == 0) {
      // Draw: walk the kept ids in ascending order (TS skips zero weights).
      const double u = static_cast<double>(a.uniform) * kept_total;
      double cumulative = 0;
      int last = -1;
      int chosen = -1;
      for (int i = 0; i < kept; ++i) {
        const double w = s.val[i];
        if (w == 0) continue;
        last = s.id[i];
        cumulative += w;
        if (u < cumulative) {
          chosen = last;
          break;
        }
      }
      *a.out = chosen >= 0 ? chosen : (last >= 0 ? last : kSampleNoMass);
    }
    return;
  }

  // 4b. Full-vocabulary path: fixed-point weights relative to the top token.
  const uint32_t top_key = max_key;
  const float max_score = KeyToFloat(max_key);
  auto weight = [&](uint32_t key) -> uint32_t {
    if (key == top_key) return kWeightOne;
    return __float2uint_rz(expf(KeyToFloat(key) - max_score) * 2147483648.0f);
  };
  const uint32_t* keys = a.keys;
  unsigned long long local = 0;
  ForEachKey(keys, vocab, [&](int id, uint32_t key) {
    if (in_top_k(id, key)) local += weight(key);
  });
  const unsigned long long total = BlockSumU64(local, s);

  bool nucleus = false;
  uint32_t theta = 0;
  int theta_cut = INT_MAX;
  unsigned long long kept_total = total;
  if (a.top_p < 1.0f) {
    // The nucleus is {weight > theta} plus the lowest-id ties at theta, theta being the weight at
    // which the running sum in (weight desc) order first reaches need = ceil(top_p * total).
    double need_d = ceil(static_cast<double>(a.top_p) * static_cast<double>(total));
    unsigned long long need = static_cast<unsigned long long>(need_d);
    if (need < 1) need = 1;
    if (need > total) need = total;
    uint32_t w_prefix = 0;
    unsigned long long sum_above = 0;
    for (int w_shift = 24; w_shift >= 0; w_shift -= 8) {
      for (int i = tid; i < 256; i += kThreads) s.hist_lo[i] = s.hist_hi[i] = 0;
      __syncthreads();
      RunSummer adder;
      const uint32_t pre = w_prefix;
      ForEachKey(keys, vocab, [&](int id, uint32_t key) {
        if (!in_top_k(id, key)) return;
        const uint32_t w = weight(key);
        if (w == 0) return;
        if (w_shift == 24 || (w >> (w_shift + 8)) == pre) adder.Add(s.hist_lo, s.hist_hi, static_cast<int>((w >> w_shift) & 255u), w);
      });
      adder.Flush(s.hist_lo, s.hist_hi);
      __syncthreads();
      for (int i = tid; i < 256; i += kThreads) s.hist64[i] = (static_cast<unsigned long long>(s.hist_hi[i]) << 32) + s.hist_lo[i];
      __syncthreads();
      SelectBin<unsigned long long>(s.hist64, need, s);
      need -= s.select_above;
      sum_above += s.select_above;
      w_prefix = (w_prefix << 8) | static_cast<uint32_t>(s.select_bin);
      __syncthreads();
    }
    theta = w_prefix;
    if (theta > 0) {
      const unsigned long long m = (need + theta - 1) / theta;
      const uint32_t th = theta;
      theta_cut = ScanFirstAbove(
          keys, vocab, m - 1,
          [&](int id, uint32_t key) { return in_top_k(id, key) && weight(key) == th ? 1ull : 0ull; }, s);
      if (theta_cut < 0) theta_cut = INT_MAX;  // cannot happen: the bin holds >= m ties
      kept_total = sum_above + m * theta;
      nucleus = true;
    }
  }
  auto kept_weight = [&](int id, uint32_t key) -> unsigned long long {
    if (!in_top_k(id, key)) return 0;
    const uint32_t w = weight(key);
    if (nucleus && !(w > theta || (w == theta && id <= theta_cut))) return 0;
    return w;
  };
  // Draw: the first id (ascending) whose running kept weight exceeds floor(uniform * kept_total).
  const unsigned long long u =
      static_cast<unsigned long long>(floor(static_cast<double>(a.uniform) * static_cast<double>(kept_total)));
  int chosen = ScanFirstAbove(keys, vocab, u, kept_weight, s);
  if (chosen < 0) {
    // Only when uniform rounds to 1: the last id with positive weight, as TS.
    uint32_t last = 0;  // id + 1, 0 = none
    ForEachKey(keys, vocab, [&](int id, uint32_t key) {
      if (kept_weight(id, key) > 0) last = max(last, static_cast<uint32_t>(id) + 1u);
    });
    last = BlockMaxU32(last, s);
    chosen = last > 0 ? static_cast<int>(last) - 1 : kSampleNoMass;
  }
  if (tid == 0) *a.out = chosen;
}

__global__ void __launch_bounds__(kArgmaxThreads) ArgmaxKernel(const float* __restrict__ logits, int vocab,
                                                               int32_t* __restrict__ out) {
  constexpr int kArgmaxWarps = kArgmaxThreads / 32;
  __shared__ float warp_value[kArgmaxWarps];
  __shared__ int warp_id[kArgmaxWarps];
  float best = -INFINITY;
  int best_id = INT_MAX;
  bool nan = false;
  ForEachLogit(logits, vocab, [&](int id, float v) {
    if (isnan(v)) {
      nan = true;
    } else if (v > best || (v == best && id < best_id)) {
      best = v;
      best_id = id;
    }
  });
  const bool any_nan = __syncthreads_or(nan);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v = __shfl_xor_sync(kFull, best, o);
    const int i = __shfl_xor_sync(kFull, best_id, o);
    if (v > best || (v == best && i < best_id)) {
      best = v;
      best_id = i;
    }
  }
  if ((threadIdx.x & 31) == 0) {
    warp_value[threadIdx.x >> 5] = best;
    warp_id[threadIdx.x >> 5] = best_id;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kArgmaxWarps; ++w) {
      if (warp_value[w] > best || (warp_value[w] == best && warp_id[w] < best_id)) {
        best = warp_value[w];
        best_id = warp_id[w];
      }
    }
    // Every id holds -inf only when the row is all -inf: then id 0 wins, as in TS (best_id is
    // INT_MAX only for vocab == 0, which the launcher rejects).
    *out = any_nan ? kSampleNaN : best_id;
  }
}

std::size_t Align16(std::size_t bytes) { return (bytes + 15) & ~static_cast<std::size_t>(15); }

}  // namespace

cudaError_t LaunchArgmax(const float* logits, int vocab, int32_t* out_id, cudaStream_t stream) {
  if (vocab <= 0 || logits == nullptr || out_id == nullptr) return cudaErrorInvalidValue;
  ArgmaxKernel<<<1, kArgmaxThreads, 0, stream>>>(logits, vocab, out_id);
  return cudaGetLastError();
}

std::size_t SampleWorkspaceBytes(int vocab) {
  if (vocab <= 0) return 0;
  const std::size_t v = static_cast<std::size_t>(vocab);
  return Align16(4 * v) + Align16(4 * ((v + 31) / 32)) + Align16(4 * static_cast<std::size_t>(KeyBlocks(vocab)) * kPartialWords);
}

cudaError_t LaunchSample(const float* logits, int vocab, const SamplingParams& params, const int32_t* previous_tokens,
                         int num_previous, float uniform, void* workspace, std::size_t workspace_bytes,
                         int32_t* out_id, cudaStream_t stream) {
  if (vocab <= 0 || vocab > (1 << 30) || logits == nullptr || out_id == nullptr) return cudaErrorInvalidValue;
  if (!(std::isfinite(params.temperature) && params.temperature >= 0.0f) || params.top_k < 0 ||
      !(params.top_p > 0.0f && params.top_p <= 1.0f) ||
      !(std::isfinite(params.repetition_penalty) && params.repetition_penalty > 0.0f) ||
      !(uniform >= 0.0f && uniform <= 1.0f) || num_previous < 0 || (num_previous > 0 && previous_tokens == nullptr &&
                                                                      params.repetition_penalty != 1.0f))
    return cudaErrorInvalidValue;
  if (workspace == nullptr || workspace_bytes < SampleWorkspaceBytes(vocab) ||
      (reinterpret_cast<std::uintptr_t>(workspace) & 15u) != 0)
    return cudaErrorInvalidValue;
  SampleArgs args{};
  args.logits = logits;
  args.vocab = vocab;
  args.greedy = params.temperature == 0.0f;
  args.temperature = params.temperature;
  args.top_k = params.top_k;
  args.top_p = params.top_p;
  args.penalty = params.repetition_penalty;
  args.use_penalty = params.repetition_penalty != 1.0f && previous_tokens != nullptr && num_previous > 0;
  args.previous = previous_tokens;
  args.num_previous = num_previous;
  args.uniform = uniform;
  args.keys = static_cast<uint32_t*>(workspace);
  char* base = static_cast<char*>(workspace);
  const std::size_t keys_bytes = Align16(4 * static_cast<std::size_t>(vocab));
  const std::size_t bitmap_bytes = Align16(4 * ((static_cast<std::size_t>(vocab) + 31) / 32));
  args.bitmap = reinterpret_cast<uint32_t*>(base + keys_bytes);
  args.partials = reinterpret_cast<uint32_t*>(base + keys_bytes + bitmap_bytes);
  args.out = out_id;
  KeysKernel<<<KeyBlocks(vocab), kKeyThreads, 0, stream>>>(args);
  SampleKernel<<<1, kThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace duo
