// The model's linear layers: y[m, n] = x[m, k] . w[n, k]^T (PyTorch nn.Linear, weight row-major
// [out, in]), bf16 inputs, fp32 accumulation, bf16 or fp32 output. m <= 8 (decode) runs our skinny
// kernel (kernels/gemv.cuh), which streams w once at HBM bandwidth; larger m runs cuBLASLt, loaded
// at run time (host/cublaslt.h), with the descriptors and the chosen algorithm cached per shape so a
// repeated shape costs no heuristic query.
#pragma once

#include <cuda_bf16.h>
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

namespace duo {

enum class GemmOutput : int { kBf16 = 0, kF32 = 1 };

/**
 * One per device (the device current at Create; Run must be called with it current). Not
 * thread-safe: calls on one Gemm must not overlap, and they share one cuBLASLt workspace, so work
 * enqueued on different streams must not run concurrently either (use one stream per Gemm).
 */
class Gemm {
 public:
  /**
   * m at or below this runs the skinny kernel (when k % 8 == 0 and x, w are 16-byte aligned). The
   * kernel takes m <= 8, but on an H100 cuBLASLt was faster at m = 8 on every Llama-3-8B decode
   * shape (its FMA and shared-memory work grows with m) while the skinny kernel won at m <= 2
   * and on most shapes at m = 4; see native/checks/gemm_check.cu's benchmarks.
   */
  static constexpr int kSkinnyMaxRows = 4;
  /** cuBLASLt workspace: NVIDIA's recommendation for Hopper (4 MiB suffices before it). */
  static constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

  /**
   * Creates the GEMM context of the current device. Succeeds without cuBLASLt (library missing,
   * wrong version, handle creation failed): then Run works for the skinny cases only and names
   * the reason for the others. Fails only on CUDA errors (the workspace allocation).
   */
  static Status Create(std::unique_ptr<Gemm>* out);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  /**
   * Enqueues y = x . w^T on `stream`. x: [m, k] bf16, w: [n, k] bf16, y: [m, n] of out_type (row
   * strides k, k, n), device pointers. m == 0 or n == 0 is a no-op; k must be >= 1.
   */
  Status Run(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n, int k,
             cudaStream_t stream);

  /**
   * Enqueues y = x . w on `stream` (no transpose: the input gradient of a linear layer, dx = dy . W
   * with W row-major [out, in]). x: [m, k] bf16, w: [k, n] bf16, y: [m, n] of out_type (row
   * strides k, n, n). Always cuBLASLt.
   */
  Status RunNN(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n, int k,
               cudaStream_t stream);

  /** As Run, always through cuBLASLt (checks and benchmarks compare the two paths). */
  Status RunCublasLt(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n,
                     int k, cudaStream_t stream);

  /** As Run, always through the skinny kernel (m <= kGemvMaxRows = 8, k % 8 == 0, x and w 16-byte aligned). */
  Status RunSkinny(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n,
                   int k, cudaStream_t stream);

  bool cublaslt_available() const { return handle_ != nullptr; }
  /** Why cuBLASLt is unavailable (empty when it is available). */
  const std::string& cublaslt_error() const { return cublaslt_error_; }
  /** cublasLtGetVersion() (major * 10000 + minor * 100 + patch), 0 when unavailable. */
  std::size_t cublaslt_version() const { return api_ != nullptr ? api_->version : 0; }
  /** The path the library was opened by, empty when unavailable. */
  std::string cublaslt_path() const { return api_ != nullptr ? api_->path : std::string(); }
  /** Shapes with a cached cuBLASLt plan. */
  std::size_t cached_plans() const { return plans_.size(); }

 private:
  // (m, n, k, output type, alignment of x, of w, of y in bytes, w transposed (1: y = x w^T, 0: y = x w)):
  // the algorithm depends on all.
  using PlanKey = std::tuple<int, int, int, int, unsigned, unsigned, unsigned, int>;
  struct Plan {
    cublaslt::cublasLtMatrixLayout_t a = nullptr;  // w
    cublaslt::cublasLtMatrixLayout_t b = nullptr;  // x
    cublaslt::cublasLtMatrixLayout_t d = nullptr;  // y (also C, with beta = 0)
    cublaslt::cublasLtMatmulAlgo_t algo{};
  };

  Gemm() = default;
  Status MakePlan(const PlanKey& key, Plan* plan);
  Status RunPlanned(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n, int k,
                    bool transposed, cudaStream_t stream);
  void DestroyPlan(Plan* plan);
  std::string Describe(int m, int n, int k, GemmOutput out_type) const;

  int device_ = 0;
  const cublaslt::Api* api_ = nullptr;
  cublaslt::cublasLtHandle_t handle_ = nullptr;
  cublaslt::cublasLtMatmulDesc_t desc_ = nullptr;     // y = x w^T ("TN")
  cublaslt::cublasLtMatmulDesc_t desc_nn_ = nullptr;  // y = x w ("NN")
  DeviceAllocation workspace_;
  std::string cublaslt_error_;
  std::map<PlanKey, Plan> plans_;
};

}  // namespace duo
