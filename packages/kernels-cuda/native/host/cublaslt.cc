// The cuBLASLt loader: dlopen() candidates in order, dlsym() every function we call, check the
// version. The library handle is never closed (the resolved pointers live as long as the process).
#include "host/cublaslt.h"

#include <dlfcn.h>

#include <mutex>

#include "host/library_search.h"

namespace duo::cublaslt {
namespace {

using library_search::Resolve;

Status LoadOnce(Api* api) {
  const library_search::LibrarySpec spec{
      "cuBLASLt",
      "DUO_CUBLASLT_PATH",
      {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"},
      // nvidia-cublas-cu12 puts the library in nvidia/cublas/lib, the CUDA 13 wheels in nvidia/cu13/lib.
      {"nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cublas/lib/libcublasLt.so.13",
       "nvidia/cublas/lib/libcublasLt.so.12"},
  };
  library_search::OpenedLibrary opened;
  if (Status status = library_search::Open(spec, &opened); !status.ok()) return status;
  void* library = opened.handle;
  api->path = opened.path;

  std::string missing;
  bool ok = true;
  ok &= Resolve(library, "cublasLtGetVersion", &api->GetVersion, &missing);
  ok &= Resolve(library, "cublasLtCreate", &api->Create, &missing);
  ok &= Resolve(library, "cublasLtDestroy", &api->Destroy, &missing);
  ok &= Resolve(library, "cublasLtMatmulDescCreate", &api->MatmulDescCreate, &missing);
  ok &= Resolve(library, "cublasLtMatmulDescDestroy", &api->MatmulDescDestroy, &missing);
  ok &= Resolve(library, "cublasLtMatmulDescSetAttribute", &api->MatmulDescSetAttribute, &missing);
  ok &= Resolve(library, "cublasLtMatrixLayoutCreate", &api->MatrixLayoutCreate, &missing);
  ok &= Resolve(library, "cublasLtMatrixLayoutDestroy", &api->MatrixLayoutDestroy, &missing);
  ok &= Resolve(library, "cublasLtMatmulPreferenceCreate", &api->MatmulPreferenceCreate, &missing);
  ok &= Resolve(library, "cublasLtMatmulPreferenceDestroy", &api->MatmulPreferenceDestroy, &missing);
  ok &= Resolve(library, "cublasLtMatmulPreferenceSetAttribute", &api->MatmulPreferenceSetAttribute, &missing);
  ok &= Resolve(library, "cublasLtMatmulAlgoGetHeuristic", &api->MatmulAlgoGetHeuristic, &missing);
  ok &= Resolve(library, "cublasLtMatmul", &api->Matmul, &missing);
  if (!ok) {
    dlclose(library);
    return Status::Error("cuBLASLt at " + api->path + " lacks " + missing);
  }
  std::string unused;
  if (!Resolve(library, "cublasLtGetStatusName", &api->GetStatusName, &unused)) api->GetStatusName = nullptr;

  api->version = api->GetVersion();
  const size_t major = api->version / 10000;
  if (major != 12 && major != 13) {
    dlclose(library);
    return Status::Error("cuBLASLt at " + api->path + " has version " + std::to_string(api->version) +
                         "; these declarations are checked against cuBLAS 12.x and 13.x only (set "
                         "DUO_CUBLASLT_PATH to such a library)");
  }
  return Status::Ok();
}

}  // namespace

Status Load(const Api** api) {
  static Api loaded{};
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = LoadOnce(&loaded); });
  *api = status.ok() ? &loaded : nullptr;
  return status;
}

std::string StatusText(cublasStatus_t status) {
  const char* name = nullptr;
  const Api* api = nullptr;
  if (Load(&api).ok() && api->GetStatusName != nullptr) name = api->GetStatusName(status);
  if (name == nullptr) {
    switch (status) {
      case CUBLAS_STATUS_SUCCESS: name = "CUBLAS_STATUS_SUCCESS"; break;
      case CUBLAS_STATUS_NOT_INITIALIZED: name = "CUBLAS_STATUS_NOT_INITIALIZED"; break;
      case CUBLAS_STATUS_ALLOC_FAILED: name = "CUBLAS_STATUS_ALLOC_FAILED"; break;
      case CUBLAS_STATUS_INVALID_VALUE: name = "CUBLAS_STATUS_INVALID_VALUE"; break;
      case CUBLAS_STATUS_ARCH_MISMATCH: name = "CUBLAS_STATUS_ARCH_MISMATCH"; break;
      case CUBLAS_STATUS_MAPPING_ERROR: name = "CUBLAS_STATUS_MAPPING_ERROR"; break;
      case CUBLAS_STATUS_EXECUTION_FAILED: name = "CUBLAS_STATUS_EXECUTION_FAILED"; break;
      case CUBLAS_STATUS_INTERNAL_ERROR: name = "CUBLAS_STATUS_INTERNAL_ERROR"; break;
      case CUBLAS_STATUS_NOT_SUPPORTED: name = "CUBLAS_STATUS_NOT_SUPPORTED"; break;
      case CUBLAS_STATUS_LICENSE_ERROR: name = "CUBLAS_STATUS_LICENSE_ERROR"; break;
      default: name = "CUBLAS_STATUS_?"; break;
    }
  }
  return std::string(name) + " (" + std::to_string(static_cast<int>(status)) + ")";
}

}  // namespace duo::cublaslt
