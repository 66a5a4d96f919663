// A move-only owner of one cudaMalloc block that remembers its size, for memory that lives as long as
// a model (weights, caches, scratch). Allocation failures come back as a Status naming the purpose,
// the size and the device's free memory, so an out-of-memory error says what did not fit.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>

#include "host/status.h"

namespace duo {

class DeviceAllocation {
 public:
  DeviceAllocation() = default;
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;
  DeviceAllocation(DeviceAllocation&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceAllocation& operator=(DeviceAllocation&& other) noexcept {
    if (this != &other) {
      Release();
      ptr_ = std::exchange(other.ptr_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  ~DeviceAllocation() { Release(); }

  /** Replaces the block with a new one of `bytes` (a zero size holds nothing). */
  Status Allocate(std::size_t bytes, const std::string& what) {
    Release();
    if (bytes == 0) return Status::Ok();
    const cudaError_t error = cudaMalloc(&ptr_, bytes);
    if (error == cudaSuccess) {
      bytes_ = bytes;
      return Status::Ok();
    }
    ptr_ = nullptr;
    cudaGetLastError();  // an allocation failure is not sticky; clear it
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    Status status = Status::Cuda(error, "cudaMalloc of " + std::to_string(bytes) + " bytes for " + what);
    return Status::Error(status.message() + " (device has " + std::to_string(free_bytes) + " of " +
                         std::to_string(total_bytes) + " bytes free)");
  }

  void Release() {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  template <typename T>
  T* As() const {
    return static_cast<T*>(ptr_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace duo
