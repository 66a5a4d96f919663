// Where a CUDA library that is opened at run time (cuBLASLt, NCCL) may be found: the path an
// environment variable names, the sonames the dynamic linker resolves, CUDA toolkit directories that
// are often missing from the linker's cache, and pip wheels (PyTorch's nvidia-* dependencies).
#pragma once

#include <string>
#include <vector>

#include "host/status.h"

namespace duo::library_search {

/** What to look for. */
struct LibrarySpec {
  /** Shown in messages, e.g. "cuBLASLt". */
  std::string name;
  /** Environment variable holding an explicit path, tried first, e.g. "DUO_CUBLASLT_PATH". */
  std::string env;
  /** Sonames in preference order, e.g. {"libcublasLt.so.13", "libcublasLt.so.12"}. */
  std::vector<std::string> sonames;
  /** Paths below site-packages/dist-packages, e.g. "nvidia/cublas/lib/libcublasLt.so.12". */
  std::vector<std::string> wheel_paths;
};

/** An opened library: its dlopen() handle and the path it came from. */
struct OpenedLibrary {
  void* handle = nullptr;
  std::string path;
};

/**
 * dlopen()s the first candidate of `spec` that loads (RTLD_NOW | RTLD_LOCAL). The error names every
 * path tried and how to point at the library.
 */
Status Open(const LibrarySpec& spec, OpenedLibrary* out);

/** dlsym() of `symbol`; on failure appends its name to `missing` (comma-separated) and returns false. */
template <typename F>
bool Resolve(void* library, const char* symbol, F* out, std::string* missing);

/** The untyped lookup behind Resolve. */
void* Lookup(void* library, const char* symbol);

template <typename F>
bool Resolve(void* library, const char* symbol, F* out, std::string* missing) {
  void* found = Lookup(library, symbol);
  if (found == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += symbol;
    return false;
  }
  *out = reinterpret_cast<F>(found);
  return true;
}

}  // namespace duo::library_search
