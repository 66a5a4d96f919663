// A tiny check-and-benchmark harness for the CUDA kernels, run on the GPU machine without node:
// every native/checks/*.cu file registers its checks with DUO_CHECK, and duo_kernel_checks runs
// them, printing one JSON object per line (also written to --out). A check compares a kernel with
// a CPU reference on random data; a benchmark (--bench) times it with CUDA events and reports the
// bytes and FLOPs it moves, so every figure can be set against its floor.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "host/status.h"

namespace duo::checks {

/** One JSON value of a record: numbers, strings and booleans, written without a JSON library. */
class Fields {
 public:
  Fields& Number(const std::string& key, double value);
  Fields& Text(const std::string& key, const std::string& value);
  Fields& Bool(const std::string& key, bool value);
  const std::string& Json() const { return json_; }

 private:
  void Key(const std::string& key);
  std::string json_;
};

/** Collects results; a failed check (or a CUDA error) makes the run exit non-zero. */
class Reporter {
 public:
  explicit Reporter(bool bench) : bench_(bench) {}

  /** True when --bench was given: checks should also time their kernels. */
  bool Benchmarks() const { return bench_; }

  /** Records a correctness case of `check`. */
  void Case(const std::string& check, const std::string& name, bool passed, const Fields& fields);

  /** Records a timing of `check` (never a pass/fail). */
  void Timing(const std::string& check, const std::string& name, const Fields& fields);

  /** Records a failed CUDA call and returns false; use as `if (!reporter.Ok(cudaX(...), "cudaX")) return;`. */
  bool Ok(cudaError_t status, const std::string& what);
  /** The same for a host Status (e.g. a DeviceAllocation that did not fit); its message names the call. */
  bool Ok(const Status& status);

  int failures() const { return failures_; }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  void Emit(const std::string& line);
  bool bench_;
  int failures_ = 0;
  std::vector<std::string> lines_;
};

using CheckFunction = void (*)(Reporter&);

/** Adds a check to the registry (called from static initialisers by DUO_CHECK). */
int RegisterCheck(const char* name, CheckFunction function);

/** Every registered check, in registration order. */
const std::vector<std::pair<std::string, CheckFunction>>& RegisteredChecks();

// ---- helpers shared by the checks ----------------------------------------------------------

/** Deterministic uniform values in [-scale, scale) from a 64-bit seed (splitmix64). */
std::vector<float> RandomFloats(std::size_t count, uint64_t seed, float scale = 1.0f);

/** fp32 -> bf16 bits, round to nearest even (NaN kept quiet). */
uint16_t FloatToBf16Bits(float value);
/** bf16 bits -> fp32 (exact). */
float Bf16BitsToFloat(uint16_t bits);
/** Rounds every value to the nearest bf16 (so a CPU reference sees the kernel's exact inputs). */
void RoundToBf16(std::vector<float>& values);
std::vector<uint16_t> ToBf16Bits(const std::vector<float>& values);
std::vector<float> FromBf16Bits(const std::vector<uint16_t>& bits);

/** Max |a - b| and max |a - b| / (|b| + floor) over two equal-length arrays. */
struct ErrorStats {
  double max_abs = 0;
  double max_rel = 0;
  double ref_max_abs = 0;
};
ErrorStats CompareArrays(const std::vector<float>& actual, const std::vector<float>& expected,
                         double relative_floor = 1e-3);

/**
 * Median milliseconds of `repetitions` runs of `launch` (after `warmup` runs), timed with CUDA
 * events on the default stream. Returns a negative value if a CUDA call failed.
 */
double MedianMilliseconds(const std::function<cudaError_t()>& launch, int repetitions = 20, int warmup = 3);

/**
 * Device-to-device copy bandwidth in bytes/s (bytes read + bytes written per second) of a
 * `bytes`-sized cudaMemcpy, measured once per process and cached: the floor every memory-bound
 * kernel is compared with.
 */
double CopyBandwidth(Reporter& reporter, std::size_t bytes = std::size_t{1} << 30);

}  // namespace duo::checks

/** Defines and registers a check: `DUO_CHECK(RmsNormBf16) { ... reporter.Case(...); }`. */
#define DUO_CHECK(name)                                                                 \
  static void DuoCheck_##name(::duo::checks::Reporter& reporter);                      \
  [[maybe_unused]] static const int duo_check_registered_##name =                       \
      ::duo::checks::RegisterCheck(#name, &DuoCheck_##name);                            \
  static void DuoCheck_##name(::duo::checks::Reporter& reporter)
