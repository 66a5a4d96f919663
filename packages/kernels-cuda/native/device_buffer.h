// Owns one cudaMalloc allocation for the length of one worker's Execute(), so every early return
// still frees it. Errors from cudaMalloc are returned to the caller; cudaFree errors are ignored
// (the caller has already reported the failure that matters).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace duo {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }

  /** Allocates `bytes` of device memory (at least 1 byte, so zero sizes still get a pointer). */
  cudaError_t Allocate(std::size_t bytes) { return cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes); }

  template <typename T>
  T* As() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

}  // namespace duo
