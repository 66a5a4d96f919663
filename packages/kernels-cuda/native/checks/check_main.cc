// duo_kernel_checks: runs every DUO_CHECK (or those whose name contains one of the comma-separated
// --filter substrings), prints JSON lines, writes them to --out, and exits 1 if any case failed or a
// CUDA call erred.
//   duo_kernel_checks [--bench] [--filter <substring>[,<substring>...]] [--out <file.jsonl>]
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "checks/check_registry.h"

int main(int argc, char** argv) {
  bool bench = false;
  std::vector<std::string> filters;
  std::string out_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--bench") {
      bench = true;
    } else if (arg == "--filter" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string part; std::getline(list, part, ',');) {
        if (!part.empty()) filters.push_back(part);
      }
    } else if (arg == "--out" && i + 1 < argc) {
      out_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: duo_kernel_checks [--bench] [--filter <substring>[,...]] [--out <file.jsonl>]\n");
      return 2;
    }
  }
  int device_count = 0;
  const cudaError_t status = cudaGetDeviceCount(&device_count);
  if (status != cudaSuccess || device_count == 0) {
    std::fprintf(stderr, "no CUDA device: %s\n", status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
    return 2;
  }
  duo::checks::Reporter reporter(bench);
  int ran = 0;
  for (const auto& [name, function] : duo::checks::RegisteredChecks()) {
    bool wanted = filters.empty();
    for (const std::string& filter : filters) wanted = wanted || name.find(filter) != std::string::npos;
    if (!wanted) continue;
    ++ran;
    function(reporter);
    const cudaError_t sticky = cudaDeviceSynchronize();
    if (sticky != cudaSuccess) {
      reporter.Ok(sticky, name + ": cudaDeviceSynchronize after the check");
      break;  // a sticky error poisons the context: later checks would only report it again
    }
  }
  if (!out_path.empty()) {
    std::ofstream out(out_path);
    for (const std::string& line : reporter.lines()) out << line << '\n';
  }
  std::fprintf(stderr, "%d checks run, %d failures\n", ran, reporter.failures());
  return reporter.failures() == 0 && ran > 0 ? 0 : 1;
}
