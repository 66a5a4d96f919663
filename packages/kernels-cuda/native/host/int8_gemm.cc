// Int8Gemm: the dp4a GEMV for decode-sized m, cuBLASLt's int8 GEMM (int32 compute) plus our epilogue
// for the rest. The row-major to column-major mapping is host/gemm.cc's "TN" form: A = the w buffer
// read as k x n (ld k, op T), B = the x buffer as k x m (ld k), D = n x m (ld n) = acc row-major [m, n].
#include "host/int8_gemm.h"

#include <cstdint>

namespace duo {
namespace {

using namespace cublaslt;

// Values from cublas_api.h / library_types.h (not declared in host/cublaslt.h, which another part
// of the addon owns): int32 compute, int8 and int32 matrices.
constexpr auto kCompute32I = static_cast<cublasComputeType_t>(72);  // CUBLAS_COMPUTE_32I
constexpr cudaDataType_t kInt8 = CUDA_R_8I;                          // 3
constexpr cudaDataType_t kInt32 = CUDA_R_32I;                        // 10

unsigned Alignment(const void* pointer, std::size_t row_bytes) {
  const std::uintptr_t bits = reinterpret_cast<std::uintptr_t>(pointer) | static_cast<std::uintptr_t>(row_bytes);
  unsigned alignment = 256;
  while (alignment > 1 && (bits & (alignment - 1)) != 0) alignment >>= 1;
  return alignment;
}

Status Lt(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status::Error(what + " failed: " + StatusText(status));
}

constexpr std::size_t kMaxPlans = 4096;

}  // namespace

Status Int8Gemm::Create(std::unique_ptr<Int8Gemm>* out) {
  std::unique_ptr<Int8Gemm> gemm(new Int8Gemm());
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
    setup = Lt(api->MatmulDescCreate(&gemm->desc_, kCompute32I, kInt32), "cublasLtMatmulDescCreate(int32 compute)");
  }
  if (setup.ok()) {
    const int32_t transa = CUBLAS_OP_T;
    const int32_t transb = CUBLAS_OP_N;
    setup = Lt(api->MatmulDescSetAttribute(gemm->desc_, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa),
               "cublasLtMatmulDescSetAttribute(TRANSA)");
    if (setup.ok()) {
      setup = Lt(api->MatmulDescSetAttribute(gemm->desc_, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb),
                 "cublasLtMatmulDescSetAttribute(TRANSB)");
    }
  }
  if (!setup.ok()) {
    if (gemm->desc_ != nullptr) api->MatmulDescDestroy(gemm->desc_);
    if (gemm->handle_ != nullptr) api->Destroy(gemm->handle_);
    gemm->desc_ = nullptr;
    gemm->handle_ = nullptr;
    gemm->api_ = nullptr;
    gemm->cublaslt_error_ = "cuBLASLt " + std::to_string(api->version) + " at " + api->path +
                            " loaded but is unusable for int8: " + setup.message();
    *out = std::move(gemm);
    return Status::Ok();
  }
  DUO_RETURN_IF_ERROR(gemm->workspace_.Allocate(kWorkspaceBytes, "the int8 cuBLASLt workspace"));
  *out = std::move(gemm);
  return Status::Ok();
}

Int8Gemm::~Int8Gemm() {
  if (api_ == nullptr) return;
  for (auto& entry : plans_) DestroyPlan(&entry.second);
  plans_.clear();
  if (desc_ != nullptr) api_->MatmulDescDestroy(desc_);
  if (handle_ != nullptr) api_->Destroy(handle_);
}

std::string Int8Gemm::Describe(int m, int n, int k) const {
  return "int8 GEMM acc[" + std::to_string(m) + ", " + std::to_string(n) + "] = x[" + std::to_string(m) + ", " +
         std::to_string(k) + "] . w[" + std::to_string(n) + ", " + std::to_string(k) + "]^T";
}

Status Int8Gemm::Run(const int8_t* x_codes, const float* x_scales, const int8_t* w_codes, const float* w_scales,
                     const float* bias, void* y, Int8Output out_type, int m, int n, int k, int32_t* acc,
                     cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 1) return Status::Error(Describe(m, n, k) + ": bad shape");
  if (m == 0 || n == 0) return Status::Ok();
  if (Int8GemvSupported(x_codes, w_codes, m, n, k)) {
    return Status::Cuda(LaunchInt8Gemv(x_codes, x_scales, w_codes, w_scales, bias, y, out_type, m, n, k, stream),
                        Describe(m, n, k) + ": the dp4a GEMV");
  }
  if (acc == nullptr) return Status::Error(Describe(m, n, k) + " needs an int32 buffer for cuBLASLt's product");
  DUO_RETURN_IF_ERROR(RunCublasLtProduct(x_codes, w_codes, acc, m, n, k, stream));
  return Status::Cuda(LaunchInt8Epilogue(acc, x_scales, w_scales, bias, y, out_type, m, n, stream),
                      Describe(m, n, k) + ": the epilogue");
}

Status Int8Gemm::MakePlan(const PlanKey& key, Plan* plan) {
  const auto [m, n, k, align_x, align_w, align_acc] = key;
  const std::string what = Describe(m, n, k);
  Status status = Lt(api_->MatrixLayoutCreate(&plan->a, kInt8, k, n, k), what + ": layout of w");
  if (status.ok()) status = Lt(api_->MatrixLayoutCreate(&plan->b, kInt8, k, m, k), what + ": layout of x");
  if (status.ok()) status = Lt(api_->MatrixLayoutCreate(&plan->d, kInt32, n, m, n), what + ": layout of acc");
  cublasLtMatmulPreference_t preference = nullptr;
  if (status.ok()) status = Lt(api_->MatmulPreferenceCreate(&preference), what + ": cublasLtMatmulPreferenceCreate");
  if (status.ok()) {
    const uint64_t workspace = kWorkspaceBytes;
    status = Lt(api_->MatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                                   sizeof workspace),
                what + ": preference MAX_WORKSPACE_BYTES");
    const uint32_t alignments[4] = {align_w, align_x, align_acc, align_acc};
    const cublasLtMatmulPreferenceAttributes_t attributes[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && status.ok(); ++i) {
      status = Lt(api_->MatmulPreferenceSetAttribute(preference, attributes[i], &alignments[i], sizeof alignments[i]),
                  what + ": preference MIN_ALIGNMENT");
    }
  }
  if (status.ok()) {
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    status = Lt(api_->MatmulAlgoGetHeuristic(handle_, desc_, plan->a, plan->b, plan->d, plan->d, preference, 1, &result,
                                             &count),
                what + ": cublasLtMatmulAlgoGetHeuristic");
    if (status.ok() && (count < 1 || result.state != CUBLAS_STATUS_SUCCESS)) {
      status = Status::Error(what + ": cuBLASLt " + std::to_string(api_->version) +
                             " has no int8 algorithm for it (alignments x " + std::to_string(align_x) + ", w " +
                             std::to_string(align_w) + ", acc " + std::to_string(align_acc) + " bytes)");
    }
    if (status.ok()) plan->algo = result.algo;
  }
  if (preference != nullptr) api_->MatmulPreferenceDestroy(preference);
  if (!status.ok()) DestroyPlan(plan);
  return status;
}

void Int8Gemm::DestroyPlan(Plan* plan) {
  if (plan->a != nullptr) api_->MatrixLayoutDestroy(plan->a);
  if (plan->b != nullptr) api_->MatrixLayoutDestroy(plan->b);
  if (plan->d != nullptr) api_->MatrixLayoutDestroy(plan->d);
  plan->a = plan->b = plan->d = nullptr;
}

Status Int8Gemm::RunCublasLtProduct(const int8_t* x_codes, const int8_t* w_codes, int32_t* acc, int m, int n, int k,
                                    cudaStream_t stream) {
  if (m < 0 || n < 0 || k < 1) return Status::Error(Describe(m, n, k) + ": bad shape");
  if (m == 0 || n == 0) return Status::Ok();
  if (handle_ == nullptr) {
    return Status::Error(Describe(m, n, k) + " needs cuBLASLt, which is unavailable: " + cublaslt_error_);
  }
  if (k % 4 != 0) return Status::Error(Describe(m, n, k) + ": cuBLASLt's int8 GEMM needs k % 4 == 0");
  const PlanKey key{m,
                    n,
                    k,
                    Alignment(x_codes, static_cast<std::size_t>(k)),
                    Alignment(w_codes, static_cast<std::size_t>(k)),
                    Alignment(acc, static_cast<std::size_t>(n) * 4)};
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
  const int32_t alpha = 1;
  const int32_t beta = 0;
  return Lt(api_->Matmul(handle_, desc_, &alpha, w_codes, plan.a, x_codes, plan.b, &beta, acc, plan.d, acc, plan.d,
                         &plan.algo, workspace_.As<void>(), kWorkspaceBytes, stream),
            Describe(m, n, k) + ": cublasLtMatmul");
}

}  // namespace duo
