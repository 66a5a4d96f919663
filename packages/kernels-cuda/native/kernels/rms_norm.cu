// Launchers for the RMSNorm kernels: choose 16-byte vectorised access when the row length and the
// pointers allow it, size the block to the row, and report launch errors.
#include "kernels/rms_norm.cuh"

#include <climits>
#include <cstdint>

namespace duo {
namespace {

bool Aligned16(const void* pointer) { return (reinterpret_cast<std::uintptr_t>(pointer) & 15u) == 0; }

template <typename T>
cudaError_t LaunchRmsNorm(const T* input, const T* weight, T* output, int64_t rows, int cols, float eps,
                          cudaStream_t stream) {
  if (rows < 0 || cols <= 0 || rows > INT_MAX) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const bool vectorised =
      cols % kVec == 0 && Aligned16(input) && Aligned16(weight) && Aligned16(output);
  const int work = vectorised ? cols / kVec : cols;
  int threads = ((work + 31) / 32) * 32;
  if (threads > 1024) threads = 1024;
  const dim3 grid(static_cast<unsigned>(rows));
  if (vectorised) {
    rms_norm_detail::RmsNormKernel<T, kVec><<<grid, threads, 0, stream>>>(input, weight, output, cols, eps);
  } else {
    rms_norm_detail::RmsNormKernel<T, 1><<<grid, threads, 0, stream>>>(input, weight, output, cols, eps);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchRmsNormBf16(const __nv_bfloat16* input, const __nv_bfloat16* weight,
                              __nv_bfloat16* output, int64_t rows, int cols, float eps,
                              cudaStream_t stream) {
  return LaunchRmsNorm(input, weight, output, rows, cols, eps, stream);
}

cudaError_t LaunchRmsNormF32(const float* input, const float* weight, float* output, int64_t rows,
                             int cols, float eps, cudaStream_t stream) {
  return LaunchRmsNorm(input, weight, output, rows, cols, eps, stream);
}

}  // namespace duo
