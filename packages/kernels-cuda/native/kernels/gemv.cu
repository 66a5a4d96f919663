// Skinny GEMM (1 <= m <= 8): y[m, n] = x[m, k] . w[n, k]^T, streaming w once at HBM bandwidth.
//
// Work split. A task is R consecutive rows of w (R outputs per row of x); one warp owns a task for
// the whole of k, so it produces finished outputs (warp-shuffle reduction, no atomics, no second
// pass). Lane l reads 16-byte chunks l, l + 32, ... of each of its R rows: every warp load is 512
// contiguous bytes per row. Each thread keeps R * U independent 16-byte loads in flight (U chunks of
// each of R rows) before it computes, i.e. 128 bytes per thread, 4 KB per warp; with ~16 warps per
// SM that is ~64 KB per SM in flight, about 3x what Little's law asks of HBM3 (~3.3 TB/s x ~0.7 us
// over 132 SMs). w is read with L1::no_allocate: it is used once.
//
// Launched as a dependent (kernels/dependent_launch.cuh) on sm_90+: the first batch of w loads is
// issued before waiting for the kernel that produced x, so a decode step's GEMVs start streaming
// weights while the small kernel before them finishes. Nothing that kernel writes is read, and y is
// written, only after the wait.
//
// x lives in shared memory. CTAs are persistent (grid = what fits on the GPU at once) and walk the
// tasks in rounds of 8 (one per warp), so x is copied to shared memory once per CTA, not per task.
// When m * k * 2 exceeds kSmemBudget, k is cut into tiles: every round walks the tiles in step
// (all 8 warps, a barrier per tile), keeping its partial sums in registers across tiles. The x copy
// uses cp.async and overlaps the first batch of w loads.
//
// R = 2 rows per task for every m (m = 1 takes R = 3 when that saves a partial round of tasks): each 16-byte x chunk read from shared memory serves 2 rows, so
// m = 8 costs 4 16-byte shared loads per 16-byte global load; small tasks balance well (n = 4096:
// 2048 tasks for ~2100 resident warps); and m = 8 fits in 120 registers without spilling (R = 4
// spilled under the 2-CTA bound). Measured alternatives that were not better on an H100: U = 8
// (<= 3%), and contiguous per-warp row ranges with 3 CTAs/SM (2-7% slower on the large shapes,
// 3% faster on n = 6144, whose 384 CTA-rounds over 264 resident CTAs leave a partial last round).
//
#include "kernels/gemv.cuh"

#include "kernels/dependent_launch.cuh"

#include <climits>
#include <cstdint>
#include <mutex>
#include <vector>

namespace duo {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// x tile bytes per CTA: 64 KiB holds one row of k = 32768, or 8 rows of k = 4096 (Llama-3-8B).
// Every sm_80+ GPU allows at least 99 KB per block once opted in.
constexpr int kSmemBudget = 64 * 1024;

/** A 16-byte load that does not allocate in L1: each byte of w is read exactly once. */
__device__ __forceinline__ uint4 LoadStreaming(const uint4* pointer) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(pointer));
  return v;
}

/** 16-byte global -> shared copy that bypasses registers (cp.async, sm_80+). */
__device__ __forceinline__ void CopyAsync16(uint4* shared, const uint4* global) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(address), "l"(global) : "memory");
#else
  *shared = *global;
#endif
}

/** Waits for this thread's cp.async copies (a __syncthreads must follow to see the others'). */
__device__ __forceinline__ void CopyAsyncWaitAll() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

/** Eight bf16 (one uint4, element 0 in the low half of .x) -> eight floats (exact). */
__device__ __forceinline__ void Unpack(const uint4& v, float* out) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(words[i] << 16);
    out[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
  }
}

template <typename T>
__device__ __forceinline__ T FromFloat(float value);
template <>
__device__ __forceinline__ float FromFloat<float>(float value) {
  return value;
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}

/**
 * M rows of x, tasks of R rows of w, U chunks per row per batch. x: [M, k], w: [n, k], y: [M, n].
 * tile_k: elements of k per shared-memory tile (a multiple of 8; == k when x fits whole).
 * num_tasks = ceil(n / R). Dynamic shared memory: M * tile_k * 2 bytes.
 */
template <int M, int R, int U, typename OutT>
__global__ void __launch_bounds__(kThreads, 2)
    GemvKernel(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ w, OutT* __restrict__ y,
               int n, int k, int tile_k, int num_tasks) {
  static_assert(R * M <= 32, "one lane stores each of a task's outputs");
  extern __shared__ uint4 x_tile[];  // [M][tile_chunks]: 8 bf16 per uint4
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int row_chunks = k / 8;         // uint4 per row of x and of w
  const int tile_chunks = tile_k / 8;   // uint4 per row of the x tile
  const int num_tiles = (row_chunks + tile_chunks - 1) / tile_chunks;
  const uint4* x4 = reinterpret_cast<const uint4*>(x);
  const uint4* w4 = reinterpret_cast<const uint4*>(w);
  bool x_resident = false;  // the single tile is already in shared memory (CTA-uniform)
  bool x_waited = false;    // the kernel that writes x has finished (CTA-uniform)

  for (int first = blockIdx.x * kWarps; first < num_tasks; first += gridDim.x * kWarps) {
    const int task = first + warp;
    const bool active = task < num_tasks;  // warp-uniform
    // The last task may overhang n: its extra rows load row n - 1 (valid memory) and store nothing.
    const uint4* rows[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t row = static_cast<int64_t>(task) * R + r;
      rows[r] = w4 + (row < n ? row : static_cast<int64_t>(n) - 1) * row_chunks;
    }
    float acc[R][M];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int m = 0; m < M; ++m) acc[r][m] = 0.0f;

    for (int t = 0; t < num_tiles; ++t) {  // CTA-uniform trip count: barriers below are safe
      const int tile_first = t * tile_chunks;
      const int chunks = min(tile_chunks, row_chunks - tile_first);
      const bool load_x = !x_resident;

      // First batch of w before x, so the two latencies (and, the first time, the wait for the
      // kernel that writes x) overlap.
      uint4 wv[R][U];
      int c0 = lane;
      auto load_batch = [&] {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int c = c0 + 32 * u;
#pragma unroll
          for (int r = 0; r < R; ++r) wv[r][u] = c < chunks ? LoadStreaming(rows[r] + tile_first + c) : uint4{};
        }
      };
      if (active) load_batch();
      if (load_x) {
        if (!x_waited) {
          WaitForPrerequisiteGrid();
          x_waited = true;
        }
        __syncthreads();  // every warp has finished reading the previous tile
        for (int i = threadIdx.x; i < M * chunks; i += kThreads) {
          const int m = i / chunks;
          const int c = i - m * chunks;
          CopyAsync16(&x_tile[m * tile_chunks + c], x4 + static_cast<int64_t>(m) * row_chunks + tile_first + c);
        }
        x_resident = num_tiles == 1;
        CopyAsyncWaitAll();
        __syncthreads();
      }
      if (active) {
        for (;;) {
#pragma unroll
          for (int u = 0; u < U; ++u) {
            const int c = c0 + 32 * u;
            if (c < chunks) {
              float wf[R][8];
#pragma unroll
              for (int r = 0; r < R; ++r) Unpack(wv[r][u], wf[r]);
#pragma unroll
              for (int m = 0; m < M; ++m) {
                float xf[8];
                Unpack(x_tile[m * tile_chunks + c], xf);
#pragma unroll
                for (int r = 0; r < R; ++r)
#pragma unroll
                  for (int e = 0; e < 8; ++e) acc[r][m] = fmaf(wf[r][e], xf[e], acc[r][m]);
              }
            }
          }
          c0 += 32 * U;
          if (c0 >= chunks) break;
          load_batch();
        }
      }
    }

    // Sum over the warp's lanes; lane r * M + m then stores output (m, row r of the task).
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int m = 0; m < M; ++m) {
        float v = acc[r][m];
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
        acc[r][m] = v;
      }
    if (active) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t row = static_cast<int64_t>(task) * R + r;
#pragma unroll
        for (int m = 0; m < M; ++m) {
          if (lane == r * M + m && row < n) y[static_cast<int64_t>(m) * n + row] = FromFloat<OutT>(acc[r][m]);
        }
      }
    }
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

/** Resident CTAs on the whole device for (kernel, shared bytes), cached: the occupancy query is per call otherwise. */
cudaError_t ResidentBlocks(const void* kernel, int shared_bytes, int* blocks) {
  struct Entry {
    const void* kernel;
    int device;
    int shared_bytes;
    int blocks;
  };
  static std::mutex mutex;
  static std::vector<Entry> cache;
  int device = 0;
  cudaError_t error = cudaGetDevice(&device);
  if (error != cudaSuccess) return error;
  std::lock_guard<std::mutex> lock(mutex);
  for (const Entry& entry : cache) {
    if (entry.kernel == kernel && entry.device == device && entry.shared_bytes == shared_bytes) {
      *blocks = entry.blocks;
      return cudaSuccess;
    }
  }
  // Opting in is per function and device; repeating it is harmless.
  error = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBudget);
  if (error != cudaSuccess) return error;
  int per_sm = 0;
  error = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared_bytes);
  if (error != cudaSuccess) return error;
  int sms = 0;
  error = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (error != cudaSuccess) return error;
  if (per_sm < 1) return cudaErrorInvalidConfiguration;
  cache.push_back({kernel, device, shared_bytes, per_sm * sms});
  *blocks = per_sm * sms;
  return cudaSuccess;
}

/** Elements of k per shared-memory tile: whole k when it fits, else equal multiples of 256 within the budget. */
int TileK(int m, int k) {
  if (static_cast<int64_t>(m) * k * 2 <= kSmemBudget) return k;
  const int max_tile = kSmemBudget / (2 * m) / 256 * 256;
  const int tiles = (k + max_tile - 1) / max_tile;
  const int even = (k + tiles - 1) / tiles;
  return (even + 255) / 256 * 256;
}

/** Rows of w the busiest warp streams: rounds of tasks over the resident warps, times R. */
template <int M, int R, int U, typename OutT>
cudaError_t CriticalRows(int n, int k, int64_t* rows) {
  const int shared_bytes = M * TileK(M, k) * 2;
  int resident = 0;
  const cudaError_t error =
      ResidentBlocks(reinterpret_cast<const void*>(&GemvKernel<M, R, U, OutT>), shared_bytes, &resident);
  if (error != cudaSuccess) return error;
  const int64_t tasks = (static_cast<int64_t>(n) - 1) / R + 1;
  const int64_t warps = static_cast<int64_t>(resident) * kWarps;
  *rows = (tasks + warps - 1) / warps * R;
  return cudaSuccess;
}

template <int M, int R, int U, typename OutT>
cudaError_t Launch(const __nv_bfloat16* x, const __nv_bfloat16* w, OutT* y, int n, int k, cudaStream_t stream) {
  const int tile_k = TileK(M, k);
  const int shared_bytes = M * tile_k * 2;
  const int num_tasks = (n - 1) / R + 1;  // n >= 1; no overflow near INT_MAX
  const void* kernel = reinterpret_cast<const void*>(&GemvKernel<M, R, U, OutT>);
  int resident = 0;
  const cudaError_t error = ResidentBlocks(kernel, shared_bytes, &resident);
  if (error != cudaSuccess) return error;
  const int wanted = (num_tasks + kWarps - 1) / kWarps;
  const int grid = wanted < resident ? wanted : resident;
  const cudaError_t launch = LaunchAsDependent(GemvKernel<M, R, U, OutT>, dim3(static_cast<unsigned>(grid)),
                                              dim3(kThreads), static_cast<std::size_t>(shared_bytes), stream, x, w, y,
                                              n, k, tile_k, num_tasks);
  if (launch != cudaSuccess) return launch;
  return cudaGetLastError();
}

template <typename OutT>
cudaError_t LaunchGemv(const __nv_bfloat16* x, const __nv_bfloat16* w, OutT* y, int m, int n, int k,
                       cudaStream_t stream) {
  if (!GemvSupported(x, w, m, n, k)) return cudaErrorInvalidValue;
  switch (m) {
    case 1: {
      // Decode: R = 3 where it removes a partial round (Llama-3-8B's q|k|v, n = 6144: 3072 tasks
      // of 2 rows are 1.45 rounds of ~2100 warps, 2048 tasks of 3 rows are one).
      int64_t rows2 = 0;
      int64_t rows3 = 0;
      cudaError_t error = CriticalRows<1, 2, 4, OutT>(n, k, &rows2);
      if (error == cudaSuccess) error = CriticalRows<1, 3, 4, OutT>(n, k, &rows3);
      if (error != cudaSuccess) return error;
      return rows3 < rows2 ? Launch<1, 3, 4>(x, w, y, n, k, stream) : Launch<1, 2, 4>(x, w, y, n, k, stream);
    }
    case 2: return Launch<2, 2, 4>(x, w, y, n, k, stream);
    case 3: return Launch<3, 2, 4>(x, w, y, n, k, stream);
    case 4: return Launch<4, 2, 4>(x, w, y, n, k, stream);
    case 5: return Launch<5, 2, 4>(x, w, y, n, k, stream);
    case 6: return Launch<6, 2, 4>(x, w, y, n, k, stream);
    case 7: return Launch<7, 2, 4>(x, w, y, n, k, stream);
    default: return Launch<8, 2, 4>(x, w, y, n, k, stream);
  }
}

}  // namespace

bool GemvSupported(const void* x, const void* w, int m, int n, int k) {
  return m >= 1 && m <= kGemvMaxRows && n >= 1 && k >= 8 && k % 8 == 0 && Aligned16(x) && Aligned16(w);
}

cudaError_t LaunchGemvBf16(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int n, int k,
                           cudaStream_t stream) {
  return LaunchGemv(x, w, y, m, n, k, stream);
}

cudaError_t LaunchGemvF32(const __nv_bfloat16* x, const __nv_bfloat16* w, float* y, int m, int n, int k,
                          cudaStream_t stream) {
  return LaunchGemv(x, w, y, m, n, k, stream);
}

}  // namespace duo
