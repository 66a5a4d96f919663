// Per-token int8 quantization, the dp4a GEMV for decode and the W8A8 epilogue (int8_linear.cuh).
//
// GEMV work split: a warp owns R = 2 consecutive rows of w for the whole of k (finished outputs,
// warp-shuffle reduction, no atomics). Lane l reads 16-byte chunks l, l + 32, ... of each row (512
// contiguous bytes per warp load), U = 2 chunks of each row per batch in flight, with
// L1::no_allocate: w is read once. x (at most 8 x k bytes) is read through the read-only cache,
// where every warp of an SM finds it. Each 16-byte chunk is 4 dp4a per row of x.
#include "kernels/int8_linear.cuh"

#include <cstdint>

namespace duo {
namespace {

constexpr int kQuantizeThreads = 256;
constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kRowsPerWarp = 2;  // R
constexpr int kUnroll = 2;       // U

__device__ __forceinline__ float Load(const __nv_bfloat16* x, std::size_t i) { return __bfloat162float(x[i]); }
__device__ __forceinline__ float Load(const float* x, std::size_t i) { return x[i]; }

/** One block per row: max|x| over the row, then codes. */
template <typename In>
__global__ void __launch_bounds__(kQuantizeThreads) Int8QuantizeKernel(const In* __restrict__ x, int features,
                                                                       int8_t* __restrict__ codes,
                                                                       float* __restrict__ scales) {
  __shared__ float warp_max[kQuantizeThreads / 32];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * features;
  float amax = 0.0f;
  for (int i = threadIdx.x; i < features; i += kQuantizeThreads) amax = fmaxf(amax, fabsf(Load(x, base + i)));
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = amax;
  __syncthreads();
  amax = 0.0f;
#pragma unroll
  for (int w = 0; w < kQuantizeThreads / 32; ++w) amax = fmaxf(amax, warp_max[w]);
  const float scale = __fdiv_rn(amax, 127.0f);
  if (threadIdx.x == 0) scales[blockIdx.x] = scale;
  for (int i = threadIdx.x; i < features; i += kQuantizeThreads) {
    int code = 0;
    if (scale != 0.0f) {
      code = __float2int_rn(__fdiv_rn(Load(x, base + i), scale));  // ties to even
      code = min(max(code, -127), 127);
    }
    codes[base + i] = static_cast<int8_t>(code);
  }
}

/** f32(f32(f32(acc) · w_scale) · x_scale) (+ bias), each step rounded on its own (no fma). */
__device__ __forceinline__ float Epilogue(int acc, float w_scale, float x_scale, const float* bias, int o) {
  float y = __fmul_rn(__fmul_rn(__int2float_rn(acc), w_scale), x_scale);
  if (bias != nullptr) y = __fadd_rn(y, bias[o]);
  return y;
}

__device__ __forceinline__ void Store(void* y, Int8Output out_type, std::size_t index, float value) {
  if (out_type == Int8Output::kF32) {
    static_cast<float*>(y)[index] = value;
  } else {
    static_cast<__nv_bfloat16*>(y)[index] = __float2bfloat16_rn(value);
  }
}

__device__ __forceinline__ uint4 LoadStreaming(const uint4* pointer) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(pointer));
  return v;
}

__device__ __forceinline__ int Dot16(const uint4& a, const uint4& b, int acc) {
  acc = __dp4a(static_cast<int>(a.x), static_cast<int>(b.x), acc);
  acc = __dp4a(static_cast<int>(a.y), static_cast<int>(b.y), acc);
  acc = __dp4a(static_cast<int>(a.z), static_cast<int>(b.z), acc);
  return __dp4a(static_cast<int>(a.w), static_cast<int>(b.w), acc);
}

template <int M>
__global__ void __launch_bounds__(kGemvThreads) Int8GemvKernel(const int8_t* __restrict__ x_codes,
                                                               const float* __restrict__ x_scales,
                                                               const int8_t* __restrict__ w_codes,
                                                               const float* __restrict__ w_scales,
                                                               const float* __restrict__ bias, void* y,
                                                               Int8Output out_type, int n, int k) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int first_row = (blockIdx.x * kGemvWarps + warp) * kRowsPerWarp;
  if (first_row >= n) return;
  const int chunks = k / 16;
  const uint4* w_rows[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = min(first_row + r, n - 1);  // an overhanging row reads row n - 1 and stores nothing
    w_rows[r] = reinterpret_cast<const uint4*>(w_codes + static_cast<std::size_t>(row) * k);
  }
  const uint4* x4 = reinterpret_cast<const uint4*>(x_codes);
  int acc[M][kRowsPerWarp];
#pragma unroll
  for (int t = 0; t < M; ++t) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) acc[t][r] = 0;
  }
  for (int base = lane; base < chunks; base += 32 * kUnroll) {
    uint4 w[kUnroll][kRowsPerWarp];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + 32 * u;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) w[u][r] = chunk < chunks ? LoadStreaming(w_rows[r] + chunk) : uint4{};
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + 32 * u;
      if (chunk >= chunks) break;
#pragma unroll
      for (int t = 0; t < M; ++t) {
        const uint4 xv = __ldg(x4 + static_cast<std::size_t>(t) * chunks + chunk);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) acc[t][r] = Dot16(xv, w[u][r], acc[t][r]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < M; ++t) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1) acc[t][r] += __shfl_xor_sync(0xffffffffu, acc[t][r], offset);
    }
  }
  // Lane t * R + r stores output (t, first_row + r).
#pragma unroll
  for (int t = 0; t < M; ++t) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int o = first_row + r;
      if (lane == t * kRowsPerWarp + r && o < n) {
        Store(y, out_type, static_cast<std::size_t>(t) * n + o, Epilogue(acc[t][r], w_scales[o], x_scales[t], bias, o));
      }
    }
  }
}

__global__ void Int8EpilogueKernel(const int32_t* __restrict__ acc, const float* __restrict__ x_scales,
                                   const float* __restrict__ w_scales, const float* __restrict__ bias, void* y,
                                   Int8Output out_type, int m, int n) {
  const std::size_t total = static_cast<std::size_t>(m) * n;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int t = static_cast<int>(i / n);
    const int o = static_cast<int>(i - static_cast<std::size_t>(t) * n);
    Store(y, out_type, i, Epilogue(acc[i], w_scales[o], x_scales[t], bias, o));
  }
}

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

template <typename In>
cudaError_t LaunchQuantize(const In* x, int rows, int features, int8_t* codes, float* scales, cudaStream_t stream) {
  if (rows < 0 || features < 0) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  if (x == nullptr || codes == nullptr || scales == nullptr || features == 0) return cudaErrorInvalidValue;
  Int8QuantizeKernel<In><<<static_cast<unsigned>(rows), kQuantizeThreads, 0, stream>>>(x, features, codes, scales);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchInt8QuantizeRows(const __nv_bfloat16* x, int rows, int features, int8_t* codes, float* scales,
                                   cudaStream_t stream) {
  return LaunchQuantize(x, rows, features, codes, scales, stream);
}

cudaError_t LaunchInt8QuantizeRowsF32(const float* x, int rows, int features, int8_t* codes, float* scales,
                                      cudaStream_t stream) {
  return LaunchQuantize(x, rows, features, codes, scales, stream);
}

bool Int8GemvSupported(const void* x_codes, const void* w_codes, int m, int n, int k) {
  return m >= 1 && m <= kInt8GemvMaxRows && n >= 1 && k >= 16 && k % 16 == 0 && x_codes != nullptr &&
         w_codes != nullptr && Aligned16(x_codes) && Aligned16(w_codes);
}

cudaError_t LaunchInt8Gemv(const int8_t* x_codes, const float* x_scales, const int8_t* w_codes, const float* w_scales,
                           const float* bias, void* y, Int8Output out_type, int m, int n, int k, cudaStream_t stream) {
  if (!Int8GemvSupported(x_codes, w_codes, m, n, k) || x_scales == nullptr || w_scales == nullptr || y == nullptr)
    return cudaErrorInvalidValue;
  const int rows_per_block = kGemvWarps * kRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((n + rows_per_block - 1) / rows_per_block));
  switch (m) {
#define DUO_INT8_GEMV_CASE(M)                                                                                    \
  case M:                                                                                                        \
    Int8GemvKernel<M><<<grid, kGemvThreads, 0, stream>>>(x_codes, x_scales, w_codes, w_scales, bias, y, out_type, \
                                                         n, k);                                                  \
    break;
    DUO_INT8_GEMV_CASE(1)
    DUO_INT8_GEMV_CASE(2)
    DUO_INT8_GEMV_CASE(3)
    DUO_INT8_GEMV_CASE(4)
    DUO_INT8_GEMV_CASE(5)
    DUO_INT8_GEMV_CASE(6)
    DUO_INT8_GEMV_CASE(7)
    DUO_INT8_GEMV_CASE(8)
#undef DUO_INT8_GEMV_CASE
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t LaunchInt8Epilogue(const int32_t* acc, const float* x_scales, const float* w_scales, const float* bias,
                               void* y, Int8Output out_type, int m, int n, cudaStream_t stream) {
  if (m < 0 || n < 0) return cudaErrorInvalidValue;
  if (m == 0 || n == 0) return cudaSuccess;
  if (acc == nullptr || x_scales == nullptr || w_scales == nullptr || y == nullptr) return cudaErrorInvalidValue;
  const std::size_t total = static_cast<std::size_t>(m) * n;
  const std::size_t blocks = (total + 255) / 256;
  Int8EpilogueKernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(
      acc, x_scales, w_scales, bias, y, out_type, m, n);
  return cudaGetLastError();
}

}  // namespace duo
