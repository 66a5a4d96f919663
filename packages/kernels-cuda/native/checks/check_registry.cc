// The harness behind DUO_CHECK: registry, JSON records, random data, bf16 rounding, timing.
#include "checks/check_registry.h"

#include "host/copy_bandwidth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace duo::checks {

namespace {

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, CheckFunction>>& Registry() {
  static std::vector<std::pair<std::string, CheckFunction>> registry;
  return registry;
}

}  // namespace

void Fields::Key(const std::string& key) {
  if (!json_.empty()) json_ += ',';
  json_ += '"' + Escape(key) + "\":";
}

Fields& Fields::Number(const std::string& key, double value) {
  Key(key);
  if (std::isfinite(value)) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    json_ += buffer;
  } else {
    json_ += "null";
  }
  return *this;
}

Fields& Fields::Text(const std::string& key, const std::string& value) {
  Key(key);
  json_ += '"' + Escape(value) + '"';
  return *this;
}

Fields& Fields::Bool(const std::string& key, bool value) {
  Key(key);
  json_ += value ? "true" : "false";
  return *this;
}

void Reporter::Emit(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  lines_.push_back(line);
}

void Reporter::Case(const std::string& check, const std::string& name, bool passed, const Fields& fields) {
  if (!passed) ++failures_;
  std::string line = "{\"kind\":\"case\",\"check\":\"" + Escape(check) + "\",\"case\":\"" + Escape(name) +
                     "\",\"passed\":" + (passed ? "true" : "false");
  if (!fields.Json().empty()) line += "," + fields.Json();
  Emit(line + "}");
}

void Reporter::Timing(const std::string& check, const std::string& name, const Fields& fields) {
  std::string line = "{\"kind\":\"timing\",\"check\":\"" + Escape(check) + "\",\"case\":\"" + Escape(name) + "\"";
  if (!fields.Json().empty()) line += "," + fields.Json();
  Emit(line + "}");
}

bool Reporter::Ok(cudaError_t status, const std::string& what) {
  if (status == cudaSuccess) return true;
  ++failures_;
  Emit("{\"kind\":\"cuda-error\",\"call\":\"" + Escape(what) + "\",\"error\":\"" + cudaGetErrorName(status) +
       "\",\"message\":\"" + Escape(cudaGetErrorString(status)) + "\"}");
  return false;
}

bool Reporter::Ok(const Status& status) {
  if (status.ok()) return true;
  ++failures_;
  Emit("{\"kind\":\"error\",\"message\":\"" + Escape(status.message()) + "\"}");
  return false;
}

int RegisterCheck(const char* name, CheckFunction function) {
  Registry().emplace_back(name, function);
  return static_cast<int>(Registry().size());
}

const std::vector<std::pair<std::string, CheckFunction>>& RegisteredChecks() { return Registry(); }

std::vector<float> RandomFloats(std::size_t count, uint64_t seed, float scale) {
  std::vector<float> out(count);
  uint64_t state = seed;
  for (std::size_t i = 0; i < count; ++i) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double unit = static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
    out[i] = static_cast<float>((2.0 * unit - 1.0) * scale);
  }
  return out;
}

uint16_t FloatToBf16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0) return static_cast<uint16_t>((bits >> 16) | 0x40);
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float Bf16BitsToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

void RoundToBf16(std::vector<float>& values) {
  for (float& v : values) v = Bf16BitsToFloat(FloatToBf16Bits(v));
}

std::vector<uint16_t> ToBf16Bits(const std::vector<float>& values) {
  std::vector<uint16_t> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = FloatToBf16Bits(values[i]);
  return out;
}

std::vector<float> FromBf16Bits(const std::vector<uint16_t>& bits) {
  std::vector<float> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) out[i] = Bf16BitsToFloat(bits[i]);
  return out;
}

ErrorStats CompareArrays(const std::vector<float>& actual, const std::vector<float>& expected,
                         double relative_floor) {
  ErrorStats stats;
  const std::size_t n = std::min(actual.size(), expected.size());
  for (std::size_t i = 0; i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    stats.max_abs = std::max(stats.max_abs, diff);
    stats.max_rel = std::max(stats.max_rel, diff / (std::fabs(static_cast<double>(expected[i])) + relative_floor));
    stats.ref_max_abs = std::max(stats.ref_max_abs, std::fabs(static_cast<double>(expected[i])));
  }
  if (actual.size() != expected.size()) stats.max_abs = stats.max_rel = INFINITY;
  return stats;
}

double MedianMilliseconds(const std::function<cudaError_t()>& launch, int repetitions, int warmup) {
  cudaEvent_t start;
  cudaEvent_t stop;
  if (cudaEventCreate(&start) != cudaSuccess) return -1;
  if (cudaEventCreate(&stop) != cudaSuccess) {
    cudaEventDestroy(start);
    return -1;
  }
  double result = -1;
  std::vector<float> times;
  for (int i = 0; i < warmup; ++i) {
    if (launch() != cudaSuccess) goto done;
  }
  if (cudaDeviceSynchronize() != cudaSuccess) goto done;
  for (int i = 0; i < repetitions; ++i) {
    float ms = 0;
    if (cudaEventRecord(start) != cudaSuccess || launch() != cudaSuccess || cudaEventRecord(stop) != cudaSuccess ||
        cudaEventSynchronize(stop) != cudaSuccess || cudaEventElapsedTime(&ms, start, stop) != cudaSuccess)
      goto done;
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  result = times[times.size() / 2];
done:
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return result;
}

double CopyBandwidth(Reporter& reporter, std::size_t bytes) {
  static double cached = 0;
  if (cached > 0) return cached;
  int device = 0;
  cudaGetDevice(&device);
  double ms = 0;
  const Status status = MeasureCopyBandwidth(device, bytes, 10, &cached, &ms);
  if (!reporter.Ok(status)) {
    cached = 0;
    return 0;
  }
  reporter.Timing("CopyBandwidth", "d2d-memcpy",
                  Fields().Number("bytes", static_cast<double>(bytes)).Number("ms", ms).Number("bytes_per_second", cached));
  return cached;
}

}  // namespace duo::checks
