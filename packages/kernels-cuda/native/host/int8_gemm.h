// W8A8 linear layers: y[m, n] = epilogue(x_codes[m, k] . w_codes[n, k]^T) with the rule of
// kernels/int8_linear.cuh (core's w8a8-linear.ts). m <= 8 (decode) runs our dp4a GEMV; larger m
// runs cuBLASLt's int8 GEMM (int32 accumulation on the tensor cores: IMMA) into an int32 buffer,
// then the epilogue kernel. cuBLASLt is the one host/cublaslt.h loads at run time; its plans are
// cached per shape, as host/gemm.h does for bf16.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "host/cublaslt.h"
#include "host/device_allocation.h"
#include "host/status.h"
#include "kernels/int8_linear.cuh"

namespace duo {

/** One per device, not thread-safe (one stream per Int8Gemm), like Gemm. */
class Int8Gemm {
 public:
  static constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

  /** Succeeds without cuBLASLt (then only m <= 8 runs, and the others name why not). */
  static Status Create(std::unique_ptr<Int8Gemm>* out);
  ~Int8Gemm();
  Int8Gemm(const Int8Gemm&) = delete;
  Int8Gemm& operator=(const Int8Gemm&) = delete;

  /**
   * Enqueues y = epilogue(x_codes . w_codes^T) on `stream`: x_codes [m, k] int8 with x_scales [m]
   * (LaunchInt8QuantizeRows), w_codes [n, k] int8 with w_scales [n] float32, bias [n] float32 or
   * null, y [m, n] of out_type. m <= 8 runs the GEMV (k % 16 == 0, 16-byte aligned codes);
   * otherwise cuBLASLt (k % 4 == 0) writes the int32 product into `acc` ([m, n] int32, device
   * memory the caller owns; unused for m <= 8).
   */
  Status Run(const int8_t* x_codes, const float* x_scales, const int8_t* w_codes, const float* w_scales,
             const float* bias, void* y, Int8Output out_type, int m, int n, int k, int32_t* acc, cudaStream_t stream);

  /** The int32 product acc = x_codes . w_codes^T through cuBLASLt, whatever m (checks compare both paths). */
  Status RunCublasLtProduct(const int8_t* x_codes, const int8_t* w_codes, int32_t* acc, int m, int n, int k,
                            cudaStream_t stream);

  bool cublaslt_available() const { return handle_ != nullptr; }
  const std::string& cublaslt_error() const { return cublaslt_error_; }

 private:
  using PlanKey = std::tuple<int, int, int, unsigned, unsigned, unsigned>;  // m, n, k, alignments of x, w, acc
  struct Plan {
    cublaslt::cublasLtMatrixLayout_t a = nullptr;  // w: k x n, ld k (op T)
    cublaslt::cublasLtMatrixLayout_t b = nullptr;  // x: k x m, ld k
    cublaslt::cublasLtMatrixLayout_t d = nullptr;  // acc: n x m, ld n
    cublaslt::cublasLtMatmulAlgo_t algo{};
  };
  Int8Gemm() = default;
  Status MakePlan(const PlanKey& key, Plan* plan);
  void DestroyPlan(Plan* plan);
  std::string Describe(int m, int n, int k) const;

  const cublaslt::Api* api_ = nullptr;
  cublaslt::cublasLtHandle_t handle_ = nullptr;
  cublaslt::cublasLtMatmulDesc_t desc_ = nullptr;
  DeviceAllocation workspace_;
  std::string cublaslt_error_;
  std::map<PlanKey, Plan> plans_;
};

}  // namespace duo
