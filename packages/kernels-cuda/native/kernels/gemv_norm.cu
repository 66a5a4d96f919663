// The fused decode GEMVs of gemv_norm.cuh. The GEMV part is gemv.cu's kernel for one row of x
// (same tasks of R rows per warp, same 16-byte streaming loads, same per-lane accumulation order,
// so the same outputs for the same x); the x tile is filled by the norm prologue instead of a copy.
// Launched as a dependent (dependent_launch.cuh): the first batch of weights streams while the
// kernel before finishes; the residual and delta are read only after the wait, after which the
// kernel lets its own dependent launch (unlike gemv.cu's kernel; a prediction, measured by the A/B).
#include "kernels/gemv_norm.cuh"

#include <cstdint>
#include <mutex>
#include <vector>

#include "kernels/dependent_launch.cuh"
#include "kernels/rms_norm.cuh"  // rms_norm_detail::BlockSum

namespace duo {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxK = 32768;  // x tile: 64 KiB of bf16, as gemv.cu's budget
constexpr int kUnroll = 4;    // U: chunks per row per batch
// The separate norm kernel (fp32_activations.cu) keeps up to 4 float4 per thread and takes
// ceil(hidden / 16) threads rounded up to a warp, at least 128, at most 1024. The prologue lets the
// first min(that, 256) threads do exactly that thread's work, so the sums match bit for bit
// whenever the norm kernel would use <= 256 threads (hidden <= 4096).
constexpr int kNormCached = 4;

int NormThreads(int hidden) {
  int threads = (hidden + 4 * kNormCached - 1) / (4 * kNormCached);
  threads = (threads + 31) / 32 * 32;
  threads = threads < 128 ? 128 : (threads > 1024 ? 1024 : threads);
  return threads < kThreads ? threads : kThreads;
}

__device__ __forceinline__ uint4 LoadStreaming(const uint4* pointer) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(pointer));
  return v;
}

__device__ __forceinline__ void Unpack(const uint4& v, float* out) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(words[i] << 16);
    out[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
  }
}

__device__ __forceinline__ float4 Add(float4 a, float4 b) { return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w); }
__device__ __forceinline__ float SumOfSquares(float4 a) { return a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w; }
__device__ __forceinline__ float4 UnpackBf16x4(uint2 v) {
  return make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xFFFF0000u), __uint_as_float(v.y << 16),
                     __uint_as_float(v.y & 0xFFFF0000u));
}
__device__ __forceinline__ uint2 PackBf16x4(float4 v) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
  const __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
  return make_uint2(*reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
}

/**
 * The norm kernel's arithmetic (fp32_activations.cu's ResidualRmsNormKernel), with the bf16 row
 * written to the shared x tile; `stride` threads work (the norm kernel's thread count, capped at
 * the block), the others add zeros to the block sum. Ends with a barrier.
 */
__device__ __forceinline__ void NormIntoShared(const GemvNormPrologue& p, int k, int stride, uint2* x_tile,
                                               float* scratch) {
  const int chunks = k / 4;
  const int t = threadIdx.x;
  const bool active = t < stride;
  const float4* r = reinterpret_cast<const float4*>(p.residual);
  const float4* e = reinterpret_cast<const float4*>(p.delta);
  float4* out = blockIdx.x == 0 ? reinterpret_cast<float4*>(p.residual_out) : nullptr;
  const uint2* w = reinterpret_cast<const uint2*>(p.weight);
  const int cached_end = kNormCached * stride;
  float4 cached[kNormCached];
  float sum = 0.0f;
  if (active) {
#pragma unroll
    for (int u = 0; u < kNormCached; ++u) {
      const int c = t + u * stride;
      if (c < chunks) cached[u] = r[c];
    }
    if (e != nullptr) {
#pragma unroll
      for (int u = 0; u < kNormCached; ++u) {
        const int c = t + u * stride;
        if (c < chunks) cached[u] = Add(cached[u], e[c]);
      }
    }
    if (out != nullptr) {
#pragma unroll
      for (int u = 0; u < kNormCached; ++u) {
        const int c = t + u * stride;
        if (c < chunks) out[c] = cached[u];
      }
    }
#pragma unroll
    for (int u = 0; u < kNormCached; ++u) {
      if (t + u * stride < chunks) sum += SumOfSquares(cached[u]);
    }
    for (int c = cached_end + t; c < chunks; c += stride) {
      float4 x = r[c];
      if (e != nullptr) x = Add(x, e[c]);
      if (out != nullptr) out[c] = x;
      sum += SumOfSquares(x);
    }
  }
  const float inv = rsqrtf(rms_norm_detail::BlockSum(sum, scratch) / static_cast<float>(k) + p.eps);
  if (active) {
    const auto store = [&](int c, float4 x) {
      const float4 g = UnpackBf16x4(w[c]);
      x_tile[c] = PackBf16x4(make_float4(g.x * (x.x * inv), g.y * (x.y * inv), g.z * (x.z * inv), g.w * (x.w * inv)));
    };
#pragma unroll
    for (int u = 0; u < kNormCached; ++u) {
      const int c = t + u * stride;
      if (c < chunks) store(c, cached[u]);
    }
    for (int c = cached_end + t; c < chunks; c += stride) store(c, e != nullptr ? Add(r[c], e[c]) : r[c]);
  }
  __syncthreads();
}

/**
 * One row of x; tasks of R rows of w per warp. kSwiGlu: R = 2, task j takes rows j and half + j
 * and stores one bf16; else task j takes rows j R .. j R + R - 1 and stores fp32.
 */
template <int R, bool kSwiGlu>
__global__ void __launch_bounds__(kThreads, 2)
    GemvNormKernel(const GemvNormPrologue norm, const __nv_bfloat16* __restrict__ w, void* __restrict__ y, int n,
                   int k, int num_tasks, int norm_stride) {
  static_assert(!kSwiGlu || R == 2, "SwiGLU pairs one gate row with one up row");
  extern __shared__ uint4 x_tile[];  // k / 8 chunks
  __shared__ float scratch[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int row_chunks = k / 8;
  const uint4* w4 = reinterpret_cast<const uint4*>(w);
  bool x_ready = false;  // CTA-uniform

  for (int first = blockIdx.x * kWarps; first < num_tasks; first += gridDim.x * kWarps) {
    const int task = first + warp;
    const bool active = task < num_tasks;  // warp-uniform
    const uint4* rows[R];
    if constexpr (kSwiGlu) {
      const int64_t j = task < n ? task : n - 1;  // n = m here
      rows[0] = w4 + j * row_chunks;
      rows[1] = w4 + (static_cast<int64_t>(n) + j) * row_chunks;
    } else {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t row = static_cast<int64_t>(task) * R + r;
        rows[r] = w4 + (row < n ? row : static_cast<int64_t>(n) - 1) * row_chunks;
      }
    }
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.0f;
    uint4 wv[R][kUnroll];
    int c0 = lane;
    auto load_batch = [&] {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
#pragma unroll
        for (int r = 0; r < R; ++r) wv[r][u] = c < row_chunks ? LoadStreaming(rows[r] + c) : uint4{};
      }
    };
    if (active) load_batch();
    if (!x_ready) {
      WaitForPrerequisiteGrid();
      // Everything before has finished: the next kernel (a dependent GEMV) may start streaming its
      // weights into the slots this grid frees, overlapping this one's tail (dependent_launch.cuh's rule).
      AllowDependentLaunch();
      NormIntoShared(norm, k, norm_stride, reinterpret_cast<uint2*>(x_tile), scratch);
      x_ready = true;
    }
    if (active) {
      for (;;) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int c = c0 + 32 * u;
          if (c < row_chunks) {
            float wf[R][8];
#pragma unroll
            for (int r = 0; r < R; ++r) Unpack(wv[r][u], wf[r]);
            float xf[8];
            Unpack(x_tile[c], xf);
#pragma unroll
            for (int r = 0; r < R; ++r)
#pragma unroll
              for (int e = 0; e < 8; ++e) acc[r] = fmaf(wf[r][e], xf[e], acc[r]);
          }
        }
        c0 += 32 * kUnroll;
        if (c0 >= row_chunks) break;
        load_batch();
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float v = acc[r];
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
      acc[r] = v;
    }
    if (active) {
      if constexpr (kSwiGlu) {
        if (lane == 0 && task < n) {
          const float g = acc[0];
          static_cast<__nv_bfloat16*>(y)[task] = __float2bfloat16_rn(g / (1.0f + expf(-g)) * acc[1]);
        }
      } else {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const int64_t row = static_cast<int64_t>(task) * R + r;
          if (lane == r && row < n) static_cast<float*>(y)[row] = acc[r];
        }
      }
    }
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

/** Resident CTAs on the device for (kernel, dynamic shared bytes), cached per device. */
cudaError_t ResidentBlocks(const void* kernel, int shared_bytes, int* blocks) {
  struct Entry {
    const void* kernel;
    int device, shared_bytes, blocks;
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
  error = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxK * 2);
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

template <int R, bool kSwiGlu>
cudaError_t Launch(const GemvNormPrologue& norm, const __nv_bfloat16* w, void* y, int n, int num_tasks, int k,
                   cudaStream_t stream) {
  const int shared_bytes = k * 2;
  const void* kernel = reinterpret_cast<const void*>(&GemvNormKernel<R, kSwiGlu>);
  int resident = 0;
  const cudaError_t error = ResidentBlocks(kernel, shared_bytes, &resident);
  if (error != cudaSuccess) return error;
  const int wanted = (num_tasks + kWarps - 1) / kWarps;
  const int grid = wanted < resident ? wanted : resident;  // block 0 always exists and writes residual_out
  const cudaError_t launch =
      LaunchAsDependent(GemvNormKernel<R, kSwiGlu>, dim3(static_cast<unsigned>(grid)), dim3(kThreads),
                        static_cast<std::size_t>(shared_bytes), stream, norm, w, y, n, k, num_tasks, NormThreads(k));
  if (launch != cudaSuccess) return launch;
  return cudaGetLastError();
}

/** Rows of w the busiest warp streams with tasks of R rows (gemv.cu's rule for choosing R). */
template <int R>
cudaError_t CriticalRows(int n, int k, int64_t* rows) {
  int resident = 0;
  const cudaError_t error =
      ResidentBlocks(reinterpret_cast<const void*>(&GemvNormKernel<R, false>), k * 2, &resident);
  if (error != cudaSuccess) return error;
  const int64_t tasks = (static_cast<int64_t>(n) - 1) / R + 1;
  const int64_t warps = static_cast<int64_t>(resident) * kWarps;
  *rows = (tasks + warps - 1) / warps * R;
  return cudaSuccess;
}

bool Supported(const GemvNormPrologue& norm, const void* w, const void* y, int n, int k) {
  return GemvNormSupported(norm, w, k) && y != nullptr && n >= 1;
}

}  // namespace

bool GemvNormSupported(const GemvNormPrologue& norm, const void* w, int k) {
  const auto aligned = [](const void* p) { return p == nullptr || Aligned16(p); };
  return k >= 8 && k % 8 == 0 && k <= kMaxK && w != nullptr && Aligned16(w) && norm.residual != nullptr &&
         Aligned16(norm.residual) && norm.weight != nullptr && Aligned16(norm.weight) && aligned(norm.delta) &&
         aligned(norm.residual_out) && norm.residual_out != norm.residual;
}

cudaError_t LaunchGemvNormF32(const GemvNormPrologue& norm, const __nv_bfloat16* w, float* y, int n, int k,
                              cudaStream_t stream) {
  if (!Supported(norm, w, y, n, k)) return cudaErrorInvalidValue;
  // R = 3 where it removes a partial round of tasks (as gemv.cu); the outputs do not depend on R.
  int64_t rows2 = 0;
  int64_t rows3 = 0;
  cudaError_t error = CriticalRows<2>(n, k, &rows2);
  if (error == cudaSuccess) error = CriticalRows<3>(n, k, &rows3);
  if (error != cudaSuccess) return error;
  return rows3 < rows2 ? Launch<3, false>(norm, w, y, n, (n - 1) / 3 + 1, k, stream)
                       : Launch<2, false>(norm, w, y, n, (n - 1) / 2 + 1, k, stream);
}

cudaError_t LaunchGemvNormSwiGlu(const GemvNormPrologue& norm, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int k,
                                 cudaStream_t stream) {
  if (!Supported(norm, w, y, m, k)) return cudaErrorInvalidValue;
  return Launch<2, true>(norm, w, y, m, m, k, stream);
}

}  // namespace duo
