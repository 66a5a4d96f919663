// The result of a host-side operation that can fail (CUDA, cuBLASLt, bad shapes): ok, or a message
// naming what failed and the numbers involved. Host code returns Status instead of throwing, so the
// same code serves the Node-API addon (which turns it into a rejected promise) and the checks.
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <utility>

namespace duo {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }
  /** A failed CUDA call: "<what> failed: <cudaErrorName>: <text>". Ok() for cudaSuccess. */
  static Status Cuda(cudaError_t error, const std::string& what) {
    if (error == cudaSuccess) return Status();
    Status status(what + " failed: " + cudaGetErrorName(error) + ": " + cudaGetErrorString(error));
    status.cuda_error_ = error;
    return status;
  }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  /** The CUDA error behind this status, cudaSuccess if none. */
  cudaError_t cuda_error() const { return cuda_error_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
  cudaError_t cuda_error_ = cudaSuccess;
};

}  // namespace duo

/** Returns from the enclosing function if `expr` (a Status) failed. */
#define DUO_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::duo::Status duo_status_ = (expr);    \
    if (!duo_status_.ok()) return duo_status_; \
  } while (0)
