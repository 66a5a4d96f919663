// The candidate list and dlopen() loop shared by the run-time loaders (cublaslt.cc, nccl.cc).
#include "host/library_search.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>

namespace duo::library_search {
namespace {

/** Candidate paths in the order we try them (glob patterns expanded, newest-looking first). */
std::vector<std::string> Candidates(const LibrarySpec& spec, std::vector<std::string>* empty_patterns) {
  std::vector<std::string> out;
  if (const char* env = std::getenv(spec.env.c_str()); env != nullptr && env[0] != '\0') out.emplace_back(env);
  // Sonames: the dynamic linker searches LD_LIBRARY_PATH, the ld.so cache and the default paths.
  for (const std::string& soname : spec.sonames) out.push_back(soname);
  // Toolkit installs that are often not in the linker's cache.
  for (const char* dir : {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                          "/usr/local/cuda/targets/sbsa-linux/lib", "/usr/local/cuda-13.0/lib64",
                          "/usr/local/cuda-12/lib64", "/opt/conda/lib"}) {
    for (const std::string& soname : spec.sonames) out.push_back(std::string(dir) + "/" + soname);
  }
  // pip wheels. (/opt/*/.venv: the GPU machine's PyTorch lives in /opt/torch/.venv.)
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
      for (const std::string& sub : spec.wheel_paths) {
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

}  // namespace

Status Open(const LibrarySpec& spec, OpenedLibrary* out) {
  std::vector<std::string> empty_patterns;
  std::string tried;
  for (const std::string& path : Candidates(spec, &empty_patterns)) {
    dlerror();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
      out->handle = handle;
      out->path = path;
      return Status::Ok();
    }
    const char* error = dlerror();
    tried += "\n  " + path + ": " + (error != nullptr ? error : "dlopen failed");
  }
  std::string message = spec.name + " could not be loaded (set " + spec.env + " to ";
  for (std::size_t i = 0; i < spec.sonames.size(); ++i) message += (i == 0 ? "" : " or ") + spec.sonames[i];
  message += "); tried:" + tried;
  if (!empty_patterns.empty()) {
    message += "\n  (no file matched " + std::to_string(empty_patterns.size()) +
               " pip-location patterns such as " + empty_patterns.front() + ")";
  }
  return Status::Error(message);
}

void* Lookup(void* library, const char* symbol) {
  dlerror();
  return dlsym(library, symbol);
}

}  // namespace duo::library_search
