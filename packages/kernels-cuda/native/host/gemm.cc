// Gemm: the skinny kernel for decode-sized m, cuBLASLt with cached plans for the rest.
//
// Row-major onto column-major. cuBLASLt is column-major: a buffer holding a row-major [r, c]
// matrix with row stride c is, read column-major, the [c, r] matrix with leading dimension c, i.e.
// the transpose. So our three buffers read column-major are
//   x (row-major [m, k]) -> X^T, a k x m matrix, ld k
//   w (row-major [n, k]) -> W^T, a k x n matrix, ld k
//   y (row-major [m, n]) -> Y^T, an n x m matrix, ld n
// and we want Y = X W^T, i.e. Y^T = W X^T = op(A) op(B) with A = the w buffer read as W^T and
// op = T (giving W, n x k), B = the x buffer read as X^T and op = N (k x m). cuBLASLt's (M, N, K)
// are then (n, m, k): D is n x m with ld n, which is exactly y row-major [m, n]. The layouts
// describe the matrices as stored (before op): A k x n ld k, B k x m ld k, D n x m ld n.
// This "TN" form is also the one cuBLASLt's tensor-core kernels prefer.
//
// RunNN (y = x w, w row-major [k, n]): the w buffer read column-major is W^T, an n x k matrix with
// ld n, so Y^T = W^T X^T = op(A) op(B) with op(A) = N: A is n x k ld n, B and D as above.
#include "host/gemm.h"

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "kernels/gemv.cuh"

namespace duo {
namespace {

using namespace cublaslt;

/** Largest power of two (at most 256) dividing both the address and the row stride in bytes. */
unsigned Alignment(const void* pointer, std::size_t row_bytes) {
  const std::uintptr_t bits = reinterpret_cast<std::uintptr_t>(pointer) | static_cast<std::uintptr_t>(row_bytes);
  unsigned alignment = 256;
  while (alignment > 1 && (bits & (alignment - 1)) != 0) alignment >>= 1;
  return alignment;
}

cudaDataType_t OutputType(GemmOutput out_type) { return out_type == GemmOutput::kF32 ? CUDA_R_32F : CUDA_R_16BF; }
std::size_t OutputBytes(GemmOutput out_type) { return out_type == GemmOutput::kF32 ? 4 : 2; }

Status Lt(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status::Error(what + " failed: " + StatusText(status));
}

// Plans are few (one per distinct shape the model runs); a runaway caller is capped, not leaked.
constexpr std::size_t kMaxPlans = 4096;

}  // namespace

Status Gemm::Create(std::unique_ptr<Gemm>* out) {
  std::unique_ptr<Gemm> gemm(new Gemm());
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaGetDevice(&gemm->device_), "cudaGetDevice"));

  const Api* api = nullptr;
  const Status load = Load(&api);
  if (!load.ok()) {
    gemm->cublaslt_error_ = load.message();
    *out = std::move(gemm);
    return Status::Ok();
  }
  Status setup = Lt(api->Create(&gemm->handle_), "cublasLtCreate");
  if (setup.ok()) {
    gemm->api_ = api;
    setup = Lt(api->MatmulDescCreate(&gemm->desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  }
  if (setup.ok()) {
    setup = Lt(api->MatmulDescCreate(&gemm->desc_nn_, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate(NN)");
  }
  for (auto [desc, transa_value] : {std::pair{gemm->desc_, CUBLAS_OP_T}, std::pair{gemm->desc_nn_, CUBLAS_OP_N}}) {
    if (!setup.ok()) break;
    const int32_t transa = transa_value;
    const int32_t transb = CUBLAS_OP_N;
    setup = Lt(api->MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa),
               "cublasLtMatmulDescSetAttribute(TRANSA)");
    if (setup.ok()) {
      setup = Lt(api->MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb),
                 "cublasLtMatmulDescSetAttribute(TRANSB)");
    }
  }
  if (!setup.ok()) {
    // The library loaded but does not work here: keep the skinny path, remember why.
    if (gemm->desc_ != nullptr) api->MatmulDescDestroy(gemm->desc_);
    if (gemm->desc_nn_ != nullptr) api->MatmulDescDestroy(gemm->desc_nn_);
    if (gemm->handle_ != nullptr) api->Destroy(gemm->handle_);
    gemm->desc_ = nullptr;
    gemm->desc_nn_ = nullptr;
    gemm->handle_ = nullptr;
    gemm->api_ = nullptr;
    gemm->cublaslt_error_ = "cuBLASLt " + std::to_string(api->version) + " at " + api->path +
                            " loaded but is unusable: " + setup.message();
    *out = std::move(gemm);
    return Status::Ok();
  }
  DUO_RETURN_IF_ERROR(gemm->workspace_.Allocate(kWorkspaceBytes, "the cuBLASLt workspace"));
  *out = std::move(gemm);
  return Status::Ok();
}

Gemm::~Gemm() {
  if (api_ == nullptr) return;
  for (auto& entry : plans_) DestroyPlan(&entry.second);
  plans_.clear();
  if (desc_ != nullptr) api_->MatmulDescDestroy(desc_);
  if (desc_nn_ != nullptr) api_->MatmulDescDestroy(desc_nn_);
  if (handle_ != nullptr) api_->Destroy(handle_);
  // workspace_ frees itself.
}

std::string Gemm::Describe(int m, int n, int k, GemmOutput out_type) const {
  return "GEMM y[" + std::to_string(m) + ", " + std::to_string(n) + "] = x[" + std::to_string(m) + ", " +
         std::to_string(k) + "] . w[" + std::to_string(n) + ", " + std::to_string(k) + "]^T (" +
         (out_type == GemmOutput::kF32 ? "fp32" : "bf16") + " out)";
}

Status Gemm::Run(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n, int k,
                 cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 1) return Status::Error(Describe(m, n, k, out_type) + ": bad shape");
  if (m == 0 || n == 0) return Status::Ok();
  if (m <= kSkinnyMaxRows && GemvSupported(x, w, m, n, k)) return RunSkinny(x, w, y, out_type, m, n, k, stream);
  if (handle_ == nullptr) {
    std::string reason = m <= kSkinnyMaxRows ? "the skinny kernel needs k % 8 == 0 and 16-byte aligned x and w"
                                             : "m > " + std::to_string(kSkinnyMaxRows);
    return Status::Error(Describe(m, n, k, out_type) + " needs cuBLASLt (" + reason +
                         "), which is unavailable: " + cublaslt_error_);
  }
  return RunCublasLt(x, w, y, out_type, m, n, k, stream);
}

Status Gemm::RunSkinny(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n,
                       int k, cudaStream_t stream) {
  const cudaError_t error =
      out_type == GemmOutput::kF32
          ? LaunchGemvF32(x, w, static_cast<float*>(y), m, n, k, stream)
          : LaunchGemvBf16(x, w, static_cast<__nv_bfloat16*>(y), m, n, k, stream);
  return Status::Cuda(error, Describe(m, n, k, out_type) + ": the skinny kernel");
}

Status Gemm::MakePlan(const PlanKey& key, Plan* plan) {
  const auto [m, n, k, out, align_x, align_w, align_y, transposed] = key;
  const GemmOutput out_type = static_cast<GemmOutput>(out);
  const std::string what = Describe(m, n, k, out_type) + (transposed ? "" : " (x . w, no transpose)");
  // See the top of this file: A = w as k x n (ld k, op T), or n x k (ld n, op N) for RunNN;
  // B = x as k x m (ld k), D = y as n x m (ld n).
  Status status = transposed ? Lt(api_->MatrixLayoutCreate(&plan->a, CUDA_R_16BF, k, n, k), what + ": layout of w")
                             : Lt(api_->MatrixLayoutCreate(&plan->a, CUDA_R_16BF, n, k, n), what + ": layout of w");
  if (status.ok()) status = Lt(api_->MatrixLayoutCreate(&plan->b, CUDA_R_16BF, k, m, k), what + ": layout of x");
  if (status.ok()) status = Lt(api_->MatrixLayoutCreate(&plan->d, OutputType(out_type), n, m, n), what + ": layout of y");

  cublasLtMatmulPreference_t preference = nullptr;
  if (status.ok()) status = Lt(api_->MatmulPreferenceCreate(&preference), what + ": cublasLtMatmulPreferenceCreate");
  if (status.ok()) {
    const uint64_t workspace = kWorkspaceBytes;
    const uint32_t alignments[4] = {align_w, align_x, align_y, align_y};  // A, B, C, D
    const cublasLtMatmulPreferenceAttributes_t attributes[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    status = Lt(api_->MatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                                   sizeof workspace),
                what + ": preference MAX_WORKSPACE_BYTES");
    // Split-K partial sums only in fp32: INPLACE and OUTPUT_TYPE would round them to bf16 first.
    const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    if (status.ok()) {
      status = Lt(api_->MatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                     &reduction, sizeof reduction),
                  what + ": preference REDUCTION_SCHEME_MASK");
    }
    for (int i = 0; i < 4 && status.ok(); ++i) {
      status = Lt(api_->MatmulPreferenceSetAttribute(preference, attributes[i], &alignments[i], sizeof alignments[i]),
                  what + ": preference MIN_ALIGNMENT");
    }
  }
  if (status.ok()) {
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    status = Lt(api_->MatmulAlgoGetHeuristic(handle_, transposed ? desc_ : desc_nn_, plan->a, plan->b, plan->d,
                                             plan->d, preference, 1, &result, &count),
                what + ": cublasLtMatmulAlgoGetHeuristic");
    if (status.ok() && (count < 1 || result.state != CUBLAS_STATUS_SUCCESS)) {
      status = Status::Error(what + ": cuBLASLt " + std::to_string(api_->version) +
                             " has no algorithm for it (alignments x " + std::to_string(align_x) + ", w " +
                             std::to_string(align_w) + ", y " + std::to_string(align_y) + " bytes)");
    }
    if (status.ok()) plan->algo = result.algo;
  }
  if (preference != nullptr) api_->MatmulPreferenceDestroy(preference);
  if (!status.ok()) DestroyPlan(plan);
  return status;
}

void Gemm::DestroyPlan(Plan* plan) {
  if (plan->a != nullptr) api_->MatrixLayoutDestroy(plan->a);
  if (plan->b != nullptr) api_->MatrixLayoutDestroy(plan->b);
  if (plan->d != nullptr) api_->MatrixLayoutDestroy(plan->d);
  plan->a = plan->b = plan->d = nullptr;
}

Status Gemm::RunCublasLt(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n,
                         int k, cudaStream_t stream) {
  return RunPlanned(x, w, y, out_type, m, n, k, true, stream);
}

Status Gemm::RunNN(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n, int k,
                   cudaStream_t stream) {
  return RunPlanned(x, w, y, out_type, m, n, k, false, stream);
}

Status Gemm::RunPlanned(const __nv_bfloat16* x, const __nv_bfloat16* w, void* y, GemmOutput out_type, int m, int n,
                        int k, bool transposed, cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 1) return Status::Error(Describe(m, n, k, out_type) + ": bad shape");
  if (m == 0 || n == 0) return Status::Ok();
  if (handle_ == nullptr) {
    return Status::Error(Describe(m, n, k, out_type) + " needs cuBLASLt, which is unavailable: " + cublaslt_error_);
  }
  const std::size_t w_row_bytes = static_cast<std::size_t>(transposed ? k : n) * 2;
  const PlanKey key{m,
                    n,
                    k,
                    static_cast<int>(out_type),
                    Alignment(x, static_cast<std::size_t>(k) * 2),
                    Alignment(w, w_row_bytes),
                    Alignment(y, static_cast<std::size_t>(n) * OutputBytes(out_type)),
                    transposed ? 1 : 0};
  auto found = plans_.find(key);
  if (found == plans_.end()) {
    if (plans_.size() >= kMaxPlans) {
      for (auto& entry : plans_) DestroyPlan(&entry.second);
      plans_.clear();
    }
    Plan plan;
    DUO_RETURN_IF_ERROR(MakePlan(key, &plan));
    found = plans_.emplace(key, plan).first;
  }
  const Plan& plan = found->second;
  const float alpha = 1.0f;
  const float beta = 0.0f;
  return Lt(api_->Matmul(handle_, transposed ? desc_ : desc_nn_, &alpha, w, plan.a, x, plan.b, &beta, y, plan.d, y,
                         plan.d, &plan.algo, workspace_.As<void>(), kWorkspaceBytes, stream),
            Describe(m, n, k, out_type) + ": cublasLtMatmul");
}

}  // namespace duo
