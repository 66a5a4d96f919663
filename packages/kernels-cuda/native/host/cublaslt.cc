// The cuBLASLt loader: dlopen() candidates in order, dlsym() every function we call, check the
// version. The library handle is never closed (the resolved pointers live as long as the process).
#include "host/cublaslt.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace duo::cublaslt {
namespace {

/** Candidate library paths in the order we try them (glob patterns expanded, newest-looking first). */
std::vector<std::string> Candidates(std::vector<std::string>* empty_patterns) {
  std::vector<std::string> out;
  if (const char* env = std::getenv("DUO_CUBLASLT_PATH"); env != nullptr && env[0] != '\0') out.emplace_back(env);
  // Sonames: the dynamic linker searches LD_LIBRARY_PATH, the ld.so cache and the default paths.
  out.emplace_back("libcublasLt.so.13");
  out.emplace_back("libcublasLt.so.12");
  out.emplace_back("libcublasLt.so");
  // Toolkit installs that are often not in the linker's cache.
  for (const char* dir : {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                          "/usr/local/cuda/targets/sbsa-linux/lib", "/usr/local/cuda-13.0/lib64",
                          "/usr/local/cuda-12/lib64", "/opt/conda/lib"}) {
    out.push_back(std::string(dir) + "/libcublasLt.so.13");
    out.push_back(std::string(dir) + "/libcublasLt.so.12");
  }
  // pip wheels (PyTorch's dependencies): nvidia-cublas-cu12 puts the library in nvidia/cublas/lib,
  // the CUDA 13 wheels in nvidia/cu13/lib.
  // (/opt/*/.venv: the GPU machine's PyTorch lives in /opt/torch/.venv.)
  std::vector<std::string> prefixes = {"/usr/local/lib", "/usr/lib", "/opt/conda/lib", "/opt/*/.venv/lib"};
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (const char* value = std::getenv(env); value != nullptr && value[0] != '\0') {
      prefixes.insert(prefixes.begin(), std::string(value) + "/lib");
    }
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    prefixes.push_back(std::string(home) + "/.local/lib");
  }
  for (const std::string& prefix : prefixes) {
    for (const char* packages : {"dist-packages", "site-packages"}) {
      for (const char* sub : {"nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cublas/lib/libcublasLt.so.13",
                              "nvidia/cublas/lib/libcublasLt.so.12"}) {
        const std::string pattern = prefix + "/python3*/" + packages + "/" + sub;
        glob_t matches{};
        if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
          // glob sorts ascending; the newest Python's copy last. Try newest first.
          for (std::size_t i = matches.gl_pathc; i > 0; --i) out.emplace_back(matches.gl_pathv[i - 1]);
        } else if (empty_patterns != nullptr) {
          empty_patterns->push_back(pattern);
        }
        globfree(&matches);
      }
    }
  }
  return out;
}

template <typename F>
bool Resolve(void* library, const char* name, F* out, std::string* missing) {
  dlerror();
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
    return false;
  }
  *out = reinterpret_cast<F>(symbol);
  return true;
}

Status LoadOnce(Api* api) {
  std::vector<std::string> empty_patterns;
  const std::vector<std::string> candidates = Candidates(&empty_patterns);
  std::string tried;
  void* library = nullptr;
  for (const std::string& path : candidates) {
    dlerror();
    library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library != nullptr) {
      api->path = path;
      break;
    }
    const char* error = dlerror();
    tried += "\n  " + path + ": " + (error != nullptr ? error : "dlopen failed");
  }
  if (library == nullptr) {
    std::string message =
        "cuBLASLt could not be loaded (set DUO_CUBLASLT_PATH to libcublasLt.so.13 or .so.12); tried:" + tried;
    if (!empty_patterns.empty()) message += "\n  (no file matched " + std::to_string(empty_patterns.size()) +
                                            " pip-location patterns such as " + empty_patterns.front() + ")";
    return Status::Error(message);
  }

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
