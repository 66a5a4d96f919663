// Owns one non-blocking CUDA stream for the length of one worker's Execute(), so concurrent calls
// from the thread pool do not serialise on the legacy default stream.
#pragma once

#include <cuda_runtime_api.h>

namespace duo {

class CudaStream {
 public:
  CudaStream() = default;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  cudaError_t Create() { return cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking); }

  cudaStream_t Get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace duo
