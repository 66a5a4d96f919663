// The W8A8 kernels against quant_reference.h (core's int8-activations.ts and w8a8-linear.ts rules),
// all bit for bit: per-token quantization (codes and scales, bf16 and f32 inputs, all-zero rows and
// values on .5 ties), the dp4a GEMV (m = 1..8) and cuBLASLt's int8 GEMM + epilogue (float32
// outputs equal; bf16 outputs equal the float32 reference rounded once), at Llama-3-8B shapes and
// odd ones. With --bench: the GEMV on the 8B decode shapes against the weight-bytes floor, and
// the GEMM at a 4096-token prefill chunk.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "checks/llama3_8b_shape.h"
#include "checks/quant_reference.h"
#include "device_buffer.h"
#include "host/int8_gemm.h"
#include "kernels/int8_linear.cuh"

namespace {

using namespace duo::checks;
using duo::Int8Output;

duo::Int8Gemm* SharedInt8Gemm(Reporter& reporter) {
  static std::unique_ptr<duo::Int8Gemm> gemm;
  static bool tried = false;
  if (!tried) {
    tried = true;
    const duo::Status status = duo::Int8Gemm::Create(&gemm);
    if (!status.ok()) {
      reporter.Case("Int8Gemm", "create", false, Fields().Text("error", status.message()));
      gemm.reset();
    }
  }
  return gemm.get();
}

template <typename T>
bool Upload(Reporter& reporter, duo::DeviceBuffer& buffer, const std::vector<T>& host) {
  return reporter.Ok(buffer.Allocate(host.size() * sizeof(T) + 16), "cudaMalloc") &&
         reporter.Ok(cudaMemcpy(buffer.As<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
                     "cudaMemcpy");
}

template <typename T>
bool Download(Reporter& reporter, const duo::DeviceBuffer& buffer, std::vector<T>* host) {
  return reporter.Ok(cudaMemcpy(host->data(), buffer.As<void>(), host->size() * sizeof(T), cudaMemcpyDeviceToHost),
                     "cudaMemcpy(back)");
}

bool SameBits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

/** Activations: random bf16 values, row 1 all zero, row 2 with values on .5 code ties (scale exactly 1). */
std::vector<float> Activations(int rows, int features, uint64_t seed, float range) {
  std::vector<float> x = RandomFloats(static_cast<std::size_t>(rows) * features, seed, range);
  RoundToBf16(x);
  if (rows > 1) std::fill_n(x.begin() + features, features, 0.0f);
  if (rows > 2) {
    float* row = x.data() + 2 * static_cast<std::size_t>(features);
    for (int i = 0; i < features; ++i) row[i] = static_cast<float>((i % 254) - 127) + (i % 2 == 0 ? 0.5f : 0.0f);
    row[0] = 127.0f;  // max|x| = 127: scale 1, so x / scale = x and every .5 is a tie
  }
  return x;
}

/** Per-output-channel int8 weights as int8-weights.ts makes them: scale = fp16(max|w| / 127), codes vs that scale. */
void Weights(int n, int k, uint64_t seed, std::vector<int8_t>* codes, std::vector<float>* scales) {
  const std::vector<float> w = RandomFloats(static_cast<std::size_t>(n) * k, seed, 0.05f);
  codes->assign(w.size(), 0);
  scales->assign(n, 0.0f);
  for (int o = 0; o < n; ++o) {
    float amax = 0.0f;
    for (int i = 0; i < k; ++i) amax = std::max(amax, std::fabs(w[static_cast<std::size_t>(o) * k + i]));
    const float scale = HalfValue(HalfBits(amax / 127.0f));
    (*scales)[o] = scale;
    for (int i = 0; i < k; ++i) {
      const float ratio = w[static_cast<std::size_t>(o) * k + i] / scale;
      (*codes)[static_cast<std::size_t>(o) * k + i] =
          static_cast<int8_t>(std::fmin(std::fmax(std::nearbyint(ratio), -127.0f), 127.0f));
    }
  }
}

void QuantizeCase(Reporter& reporter, const std::string& name, int rows, int features, bool f32_input, uint64_t seed) {
  const std::vector<float> x = Activations(rows, features, seed, f32_input ? 37.0f : 3.0f);
  std::vector<float> input = x;
  if (f32_input) {  // f32 inputs that are not bf16 values
    const std::vector<float> fine = RandomFloats(input.size(), seed + 1, 1e-3f);
    for (std::size_t i = 0; i < input.size(); ++i)
      if (i / features != 1 && i / features != 2) input[i] += fine[i];
  }
  std::vector<int8_t> want_codes;
  std::vector<float> want_scales;
  QuantizeInt8Reference(input.data(), rows, features, &want_codes, &want_scales);
  duo::DeviceBuffer d_x, d_codes, d_scales;
  if (!reporter.Ok(d_codes.Allocate(want_codes.size()), "cudaMalloc") ||
      !reporter.Ok(d_scales.Allocate(want_scales.size() * 4), "cudaMalloc"))
    return;
  cudaError_t status;
  if (f32_input) {
    if (!Upload(reporter, d_x, input)) return;
    status = duo::LaunchInt8QuantizeRowsF32(d_x.As<float>(), rows, features, d_codes.As<int8_t>(), d_scales.As<float>(),
                                            nullptr);
  } else {
    if (!Upload(reporter, d_x, ToBf16Bits(input))) return;
    status = duo::LaunchInt8QuantizeRows(d_x.As<__nv_bfloat16>(), rows, features, d_codes.As<int8_t>(),
                                         d_scales.As<float>(), nullptr);
  }
  if (!reporter.Ok(status, "LaunchInt8QuantizeRows(" + name + ")") || !reporter.Ok(cudaDeviceSynchronize(), name))
    return;
  std::vector<int8_t> codes(want_codes.size());
  std::vector<float> scales(want_scales.size());
  if (!Download(reporter, d_codes, &codes) || !Download(reporter, d_scales, &scales)) return;
  std::size_t code_diff = 0, scale_diff = 0;
  for (std::size_t i = 0; i < codes.size(); ++i) code_diff += codes[i] != want_codes[i];
  for (std::size_t i = 0; i < scales.size(); ++i) scale_diff += !SameBits(scales[i], want_scales[i]);
  reporter.Case("Int8Quantize", name, code_diff == 0 && scale_diff == 0,
                Fields().Number("differing_codes", static_cast<double>(code_diff)).Number("differing_scales",
                                                                                          static_cast<double>(scale_diff)));
}

/** GEMV (m <= 8) or cuBLASLt GEMM + epilogue vs the reference; both output types, with or without bias. */
void LinearCase(Reporter& reporter, const std::string& check, const std::string& name, int m, int n, int k,
                bool with_bias, bool force_cublaslt, uint64_t seed) {
  duo::Int8Gemm* gemm = SharedInt8Gemm(reporter);
  if (gemm == nullptr) return;
  const std::vector<float> x = Activations(m, k, seed, 2.0f);
  std::vector<int8_t> x_codes, w_codes;
  std::vector<float> x_scales, w_scales;
  QuantizeInt8Reference(x.data(), m, k, &x_codes, &x_scales);
  Weights(n, k, seed + 1, &w_codes, &w_scales);
  std::vector<float> bias = RandomFloats(n, seed + 2, 0.5f);
  const std::vector<float> want =
      Int8MatmulReference(x_codes, x_scales, w_codes, w_scales, with_bias ? bias.data() : nullptr, m, n, k);
  duo::DeviceBuffer d_x, d_xs, d_w, d_ws, d_bias, d_y32, d_y16, d_acc;
  if (!Upload(reporter, d_x, x_codes) || !Upload(reporter, d_xs, x_scales) || !Upload(reporter, d_w, w_codes) ||
      !Upload(reporter, d_ws, w_scales) || !Upload(reporter, d_bias, bias) ||
      !reporter.Ok(d_y32.Allocate(static_cast<std::size_t>(m) * n * 4), "cudaMalloc") ||
      !reporter.Ok(d_y16.Allocate(static_cast<std::size_t>(m) * n * 2), "cudaMalloc") ||
      !reporter.Ok(d_acc.Allocate(static_cast<std::size_t>(m) * n * 4), "cudaMalloc"))
    return;
  const float* bias_pointer = with_bias ? d_bias.As<float>() : nullptr;
  for (const Int8Output out : {Int8Output::kF32, Int8Output::kBf16}) {
    void* y = out == Int8Output::kF32 ? d_y32.As<void>() : d_y16.As<void>();
    cudaMemset(y, 0xFF, static_cast<std::size_t>(m) * n * (out == Int8Output::kF32 ? 4 : 2));
    duo::Status status;
    if (force_cublaslt) {
      status = gemm->RunCublasLtProduct(d_x.As<int8_t>(), d_w.As<int8_t>(), d_acc.As<int32_t>(), m, n, k, nullptr);
      if (status.ok()) {
        status = duo::Status::Cuda(duo::LaunchInt8Epilogue(d_acc.As<int32_t>(), d_xs.As<float>(), d_ws.As<float>(),
                                                           bias_pointer, y, out, m, n, nullptr),
                                   "LaunchInt8Epilogue");
      }
    } else {
      status = gemm->Run(d_x.As<int8_t>(), d_xs.As<float>(), d_w.As<int8_t>(), d_ws.As<float>(), bias_pointer, y, out,
                         m, n, k, d_acc.As<int32_t>(), nullptr);
    }
    const std::string case_name = name + (out == Int8Output::kF32 ? " f32" : " bf16") + (with_bias ? " bias" : "");
    if (!status.ok()) {
      reporter.Case(check, case_name, false, Fields().Text("error", status.message()));
      continue;
    }
    if (!reporter.Ok(cudaDeviceSynchronize(), check + " (" + case_name + ")")) return;
    std::size_t differing = 0;
    double max_abs = 0;
    if (out == Int8Output::kF32) {
      std::vector<float> got(static_cast<std::size_t>(m) * n);
      if (!Download(reporter, d_y32, &got)) return;
      for (std::size_t i = 0; i < got.size(); ++i) {
        differing += !SameBits(got[i], want[i]);
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(got[i]) - want[i]));
      }
    } else {
      std::vector<uint16_t> got(static_cast<std::size_t>(m) * n);
      if (!Download(reporter, d_y16, &got)) return;
      for (std::size_t i = 0; i < got.size(); ++i) differing += got[i] != FloatToBf16Bits(want[i]);
    }
    reporter.Case(check, case_name, differing == 0,
                  Fields().Number("differing", static_cast<double>(differing)).Number("max_abs", max_abs));
  }
}

void Benchmarks(Reporter& reporter) {
  duo::Int8Gemm* gemm = SharedInt8Gemm(reporter);
  if (gemm == nullptr) return;
  const double bandwidth = CopyBandwidth(reporter);
  if (bandwidth <= 0) return;
  const duo::ModelShape s = Llama3_8bShape();
  struct Shape {
    const char* name;
    int n, k;
  };
  const Shape shapes[] = {{"qkv", (s.num_q_heads + 2 * s.num_kv_heads) * s.head_dim, s.hidden},
                          {"o", s.hidden, s.num_q_heads * s.head_dim},
                          {"gate_up", 2 * s.intermediate, s.hidden},
                          {"down", s.hidden, s.intermediate}};
  const int prefill = 4096;
  for (const Shape& shape : shapes) {
    // Weights rotate over 4 copies (> 50 MB L2 for every shape but o) so that L2 cannot serve repeats.
    constexpr int kCopies = 4;
    const std::size_t w_bytes = static_cast<std::size_t>(shape.n) * shape.k;
    duo::DeviceBuffer d_w, d_ws, d_x, d_xs, d_y, d_acc;
    if (!reporter.Ok(d_w.Allocate(w_bytes * kCopies), "cudaMalloc(bench w)") ||
        !reporter.Ok(d_ws.Allocate(static_cast<std::size_t>(shape.n) * 4), "cudaMalloc") ||
        !reporter.Ok(d_x.Allocate(static_cast<std::size_t>(prefill) * shape.k), "cudaMalloc") ||
        !reporter.Ok(d_xs.Allocate(static_cast<std::size_t>(prefill) * 4), "cudaMalloc") ||
        !reporter.Ok(d_y.Allocate(static_cast<std::size_t>(prefill) * shape.n * 2), "cudaMalloc") ||
        !reporter.Ok(d_acc.Allocate(static_cast<std::size_t>(prefill) * shape.n * 4), "cudaMalloc"))
      return;
    cudaMemset(d_w.As<void>(), 0x11, w_bytes * kCopies);
    cudaMemset(d_ws.As<void>(), 0x3B, static_cast<std::size_t>(shape.n) * 4);
    cudaMemset(d_x.As<void>(), 0x05, static_cast<std::size_t>(prefill) * shape.k);
    cudaMemset(d_xs.As<void>(), 0x3B, static_cast<std::size_t>(prefill) * 4);
    if (!reporter.Ok(cudaDeviceSynchronize(), "bench setup")) return;
    for (const int m : {1, 4, 8}) {
      int call = 0;
      auto launch = [&] {
        const int8_t* w = d_w.As<int8_t>() + static_cast<std::size_t>(call++ % kCopies) * w_bytes;
        return duo::LaunchInt8Gemv(d_x.As<int8_t>(), d_xs.As<float>(), w, d_ws.As<float>(), nullptr, d_y.As<void>(),
                                   Int8Output::kBf16, m, shape.n, shape.k, nullptr);
      };
      const double ms = MedianMilliseconds(launch, 30, 3);
      const double bytes = static_cast<double>(w_bytes) + shape.n * 4.0 + m * (shape.k + 4.0 + shape.n * 2.0);
      const double floor_ms = bytes / bandwidth * 1e3;
      reporter.Timing("Int8Gemv", std::string(shape.name) + " m" + std::to_string(m),
                      Fields()
                          .Number("n", shape.n)
                          .Number("k", shape.k)
                          .Number("ms", ms)
                          .Number("bytes", bytes)
                          .Number("floor_ms", floor_ms)
                          .Number("ratio", ms / floor_ms)
                          .Number("gb_per_s", bytes / (ms * 1e-3) / 1e9));
    }
    duo::Status failure;
    auto launch_gemm = [&] {
      failure = gemm->Run(d_x.As<int8_t>(), d_xs.As<float>(), d_w.As<int8_t>(), d_ws.As<float>(), nullptr,
                          d_y.As<void>(), Int8Output::kBf16, prefill, shape.n, shape.k, d_acc.As<int32_t>(), nullptr);
      return failure.ok() ? cudaSuccess : cudaErrorUnknown;
    };
    const double ms = MedianMilliseconds(launch_gemm, 10, 2);
    if (!failure.ok()) {
      reporter.Case("Int8Gemm", std::string("bench ") + shape.name, false, Fields().Text("error", failure.message()));
      continue;
    }
    const double ops = 2.0 * prefill * shape.n * shape.k;
    reporter.Timing("Int8Gemm", std::string(shape.name) + " m" + std::to_string(prefill),
                    Fields().Number("n", shape.n).Number("k", shape.k).Number("ms", ms).Number("tops", ops / (ms * 1e-3) / 1e12));
  }
}

}  // namespace

DUO_CHECK(Int8Quantize) {
  const duo::ModelShape s = Llama3_8bShape();
  QuantizeCase(reporter, "bf16 1x4096", 1, s.hidden, false, 11);
  QuantizeCase(reporter, "bf16 5x4096", 5, s.hidden, false, 12);
  QuantizeCase(reporter, "bf16 300x14336", 300, s.intermediate, false, 13);
  QuantizeCase(reporter, "bf16 3x7 (odd)", 3, 7, false, 14);
  QuantizeCase(reporter, "f32 4x4096", 4, s.hidden, true, 15);
  QuantizeCase(reporter, "f32 9x1000", 9, 1000, true, 16);
}

DUO_CHECK(Int8Gemv) {
  const duo::ModelShape s = Llama3_8bShape();
  uint64_t seed = 100;
  for (const int m : {1, 2, 3, 4, 5, 8}) {
    LinearCase(reporter, "Int8Gemv", "qkv m" + std::to_string(m), m, (s.num_q_heads + 2 * s.num_kv_heads) * s.head_dim,
               s.hidden, m % 2 == 1, false, seed += 10);
  }
  LinearCase(reporter, "Int8Gemv", "down m1", 1, s.hidden, s.intermediate, false, false, seed += 10);
  LinearCase(reporter, "Int8Gemv", "gate_up m1", 1, 2 * s.intermediate, s.hidden, true, false, seed += 10);
  LinearCase(reporter, "Int8Gemv", "odd n1 k16 m1", 1, 1, 16, true, false, seed += 10);
  LinearCase(reporter, "Int8Gemv", "odd n3 k48 m7", 7, 3, 48, false, false, seed += 10);
  LinearCase(reporter, "Int8Gemv", "odd n1001 k4112 m2", 2, 1001, 4112, true, false, seed += 10);
}

DUO_CHECK(Int8Gemm) {
  const duo::ModelShape s = Llama3_8bShape();
  uint64_t seed = 500;
  LinearCase(reporter, "Int8Gemm", "qkv m64", 64, (s.num_q_heads + 2 * s.num_kv_heads) * s.head_dim, s.hidden, true,
             false, seed += 10);
  LinearCase(reporter, "Int8Gemm", "down m33", 33, s.hidden, s.intermediate, false, false, seed += 10);
  LinearCase(reporter, "Int8Gemm", "odd m9 n1001 k1004", 9, 1001, 1004, true, false, seed += 10);
  LinearCase(reporter, "Int8Gemm", "odd m300 n96 k36", 300, 96, 36, false, false, seed += 10);
  LinearCase(reporter, "Int8Gemm", "cublaslt m4 n4096 k4096", 4, 4096, 4096, true, true, seed += 10);
  if (reporter.Benchmarks()) Benchmarks(reporter);
}
