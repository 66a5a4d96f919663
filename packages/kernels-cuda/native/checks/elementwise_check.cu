// Embedding, RoPE, SwiGLU and fused add + RMSNorm (bf16) against CPU references that mirror
// Hugging Face's bf16 rounding op by op, on bf16-rounded random data; plus their bandwidth.
//  * Embedding and RoPE: bit-identical (a row copy; RoPE is bf16 products of bf16 values, exact in
//    fp32, and fp32 sums, each rounded once, so CPU and GPU round identically).
//  * SwiGLU, AddRmsNorm: bit-identical, except where the fp32 value rounded to bf16 (SiLU(g), or
//    x * inv_rms) lies within a tiny relative window of a bf16 rounding boundary: there expf /
//    rsqrtf / the fp32 reduction order may legitimately round the other way, and either rounding
//    (each then taken through the following bf16 product) is accepted. Such elements are counted.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/add_rms_norm.cuh"
#include "kernels/embedding.cuh"
#include "kernels/rope.cuh"
#include "kernels/swiglu.cuh"

namespace {

using namespace duo::checks;

float Round(float v) { return Bf16BitsToFloat(FloatToBf16Bits(v)); }

struct ModelShape {
  const char* name;
  int hidden;
  int hq;
  int hkv;
  int d;
  int m;
  int vocab;
};
const ModelShape kShapes[] = {{"toy", 256, 8, 4, 32, 1024, 2048}, {"llama3-8b", 4096, 32, 8, 128, 14336, 128256}};
const ModelShape kLlama = kShapes[1];
const int kTokens[] = {1, 3, 512};

std::vector<uint16_t> RandomBf16(std::size_t count, uint64_t seed, float scale) {
  std::vector<float> v = RandomFloats(count, seed, scale);
  return ToBf16Bits(v);
}

template <typename T>
bool Upload(Reporter& reporter, duo::DeviceBuffer& buffer, const std::vector<T>& host, const char* what) {
  return reporter.Ok(buffer.Allocate(host.size() * sizeof(T)), std::string("cudaMalloc ") + what) &&
         reporter.Ok(cudaMemcpy(buffer.As<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
                     std::string("cudaMemcpy ") + what);
}

template <typename T>
bool Download(Reporter& reporter, std::vector<T>& host, const duo::DeviceBuffer& buffer, const char* what) {
  return reporter.Ok(cudaMemcpy(host.data(), buffer.As<void>(), host.size() * sizeof(T), cudaMemcpyDeviceToHost),
                     std::string("cudaMemcpy ") + what);
}

std::size_t CountDifferent(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n + (a.size() != b.size() ? 1 : 0);
}

/** The bf16 roundings of x * (1 -+ window): equal unless x is within the window of a boundary. */
void BracketBf16(double x, double window, uint16_t& lo, uint16_t& hi) {
  lo = FloatToBf16Bits(static_cast<float>(x * (1.0 - window)));
  hi = FloatToBf16Bits(static_cast<float>(x * (1.0 + window)));
}

void Time(Reporter& reporter, const std::string& check, const std::string& name, const std::function<cudaError_t()>& launch,
          double bytes) {
  const double ms = MedianMilliseconds(launch);
  const double floor_ms = bytes / CopyBandwidth(reporter) * 1e3;
  reporter.Timing(check, name,
                  Fields().Number("ms", ms).Number("bytes", bytes).Number("floor_ms", floor_ms).Number("ratio", ms / floor_ms));
}

// RoPE tables as the host computes them: cos/sin(position * theta^(-2i/d)) * attention scaling.
void RopeTables(int tokens, int d, int first_position, double theta, float scaling, std::vector<float>& cos_t,
                std::vector<float>& sin_t) {
  const int half = d / 2;
  cos_t.resize(static_cast<std::size_t>(tokens) * half);
  sin_t.resize(cos_t.size());
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < half; ++i) {
      const float inv_freq = static_cast<float>(std::pow(theta, -2.0 * i / d));
      const float angle = static_cast<float>(first_position + t) * inv_freq;
      cos_t[static_cast<std::size_t>(t) * half + i] = std::cos(angle) * scaling;
      sin_t[static_cast<std::size_t>(t) * half + i] = std::sin(angle) * scaling;
    }
  }
}

}  // namespace

DUO_CHECK(Embedding) {
  for (const ModelShape& shape : kShapes) {
    // The correctness table is capped at 8192 rows (a full Llama table is 1 GB of host randoms).
    const int rows = shape.vocab < 8192 ? shape.vocab : 8192;
    const std::vector<uint16_t> table = RandomBf16(static_cast<std::size_t>(rows) * shape.hidden, 21, 2.0f);
    duo::DeviceBuffer d_table;
    if (!Upload(reporter, d_table, table, "table")) return;
    for (int tokens : kTokens) {
      std::vector<int32_t> ids(tokens);
      const std::vector<float> r = RandomFloats(tokens, 22 + tokens, 1.0f);
      for (int t = 0; t < tokens; ++t) ids[t] = static_cast<int32_t>((r[t] * 0.5f + 0.5f) * (rows - 1));
      ids[0] = rows - 1;
      if (tokens > 2) ids[1] = 0, ids[2] = rows - 1;
      std::vector<uint16_t> expected(static_cast<std::size_t>(tokens) * shape.hidden);
      for (int t = 0; t < tokens; ++t)
        for (int c = 0; c < shape.hidden; ++c)
          expected[static_cast<std::size_t>(t) * shape.hidden + c] = table[static_cast<std::size_t>(ids[t]) * shape.hidden + c];
      duo::DeviceBuffer d_ids, d_out;
      if (!Upload(reporter, d_ids, ids, "ids") || !reporter.Ok(d_out.Allocate(expected.size() * 2), "cudaMalloc out")) return;
      if (!reporter.Ok(duo::LaunchEmbedding(d_table.As<__nv_bfloat16>(), d_ids.As<int32_t>(), tokens, shape.hidden,
                                            d_out.As<__nv_bfloat16>(), nullptr),
                       "LaunchEmbedding"))
        return;
      std::vector<uint16_t> out(expected.size());
      if (!Download(reporter, out, d_out, "out")) return;
      const std::size_t wrong = CountDifferent(out, expected);
      reporter.Case("Embedding", std::string(shape.name) + "/T" + std::to_string(tokens), wrong == 0,
                    Fields().Text("tolerance", "bit-identical").Number("mismatches", static_cast<double>(wrong)));
    }
  }
  if (reporter.Benchmarks()) {
    const ModelShape& s = kLlama;
    duo::DeviceBuffer d_table, d_ids, d_out;
    const std::size_t table_bytes = static_cast<std::size_t>(s.vocab) * s.hidden * 2;
    if (!reporter.Ok(d_table.Allocate(table_bytes), "cudaMalloc table") ||
        !reporter.Ok(cudaMemset(d_table.As<void>(), 0, table_bytes), "cudaMemset table"))
      return;
    for (int tokens : {1, 4096}) {
      std::vector<int32_t> ids(tokens);
      for (int t = 0; t < tokens; ++t) ids[t] = static_cast<int32_t>((static_cast<int64_t>(t) * 7919) % s.vocab);
      if (!Upload(reporter, d_ids, ids, "ids") ||
          !reporter.Ok(d_out.Allocate(static_cast<std::size_t>(tokens) * s.hidden * 2), "cudaMalloc out"))
        return;
      const double bytes = 2.0 * tokens * s.hidden * 2 + 4.0 * tokens;
      Time(reporter, "Embedding", "llama3-8b/T" + std::to_string(tokens), [&] {
        return duo::LaunchEmbedding(d_table.As<__nv_bfloat16>(), d_ids.As<int32_t>(), tokens, s.hidden, d_out.As<__nv_bfloat16>(), nullptr);
      }, bytes);
    }
  }
}

DUO_CHECK(Rope) {
  for (const ModelShape& shape : kShapes) {
    const int d = shape.d;
    const int half = d / 2;
    const int stride = (shape.hq + 2 * shape.hkv) * d;
    const int rotated = shape.hq + shape.hkv;
    // The toy case uses an attention scaling != 1 (as yarn / longrope produce).
    const float scaling = shape.d == 32 ? 1.25f : 1.0f;
    for (int tokens : kTokens) {
      const std::vector<uint16_t> qkv = RandomBf16(static_cast<std::size_t>(tokens) * stride, 31 + tokens, 4.0f);
      std::vector<float> cos_t, sin_t;
      RopeTables(tokens, d, 1000 + 17 * tokens, 500000.0, scaling, cos_t, sin_t);
      std::vector<uint16_t> expected = qkv;
      for (int t = 0; t < tokens; ++t) {
        for (int h = 0; h < rotated; ++h) {
          const std::size_t base = static_cast<std::size_t>(t) * stride + static_cast<std::size_t>(h) * d;
          for (int i = 0; i < half; ++i) {
            const float c = Round(cos_t[static_cast<std::size_t>(t) * half + i]);
            const float s = Round(sin_t[static_cast<std::size_t>(t) * half + i]);
            const float x0 = Bf16BitsToFloat(qkv[base + i]);
            const float x1 = Bf16BitsToFloat(qkv[base + i + half]);
            expected[base + i] = FloatToBf16Bits(Round(x0 * c) - Round(x1 * s));
            expected[base + i + half] = FloatToBf16Bits(Round(x1 * c) + Round(x0 * s));
          }
        }
      }
      duo::DeviceBuffer d_qkv, d_cos, d_sin;
      if (!Upload(reporter, d_qkv, qkv, "qkv") || !Upload(reporter, d_cos, cos_t, "cos") || !Upload(reporter, d_sin, sin_t, "sin"))
        return;
      if (!reporter.Ok(duo::LaunchRope(d_qkv.As<__nv_bfloat16>(), tokens, shape.hq, shape.hkv, d, d_cos.As<float>(),
                                       d_sin.As<float>(), nullptr),
                       "LaunchRope"))
        return;
      std::vector<uint16_t> out(qkv.size());
      if (!Download(reporter, out, d_qkv, "qkv")) return;
      const std::size_t wrong = CountDifferent(out, expected);
      reporter.Case("Rope", std::string(shape.name) + "/T" + std::to_string(tokens), wrong == 0,
                    Fields().Text("tolerance", "bit-identical (whole qkv buffer, v included)").Number("mismatches", static_cast<double>(wrong)));
    }
  }
  if (reporter.Benchmarks()) {
    const ModelShape& s = kLlama;
    const int stride = (s.hq + 2 * s.hkv) * s.d;
    for (int tokens : {1, 4096}) {
      duo::DeviceBuffer d_qkv, d_cos, d_sin;
      std::vector<float> cos_t, sin_t;
      RopeTables(tokens, s.d, 0, 500000.0, 1.0f, cos_t, sin_t);
      const std::size_t qkv_bytes = static_cast<std::size_t>(tokens) * stride * 2;
      if (!reporter.Ok(d_qkv.Allocate(qkv_bytes), "cudaMalloc qkv") || !reporter.Ok(cudaMemset(d_qkv.As<void>(), 0, qkv_bytes), "memset") ||
          !Upload(reporter, d_cos, cos_t, "cos") || !Upload(reporter, d_sin, sin_t, "sin"))
        return;
      const double bytes = 2.0 * tokens * (s.hq + s.hkv) * s.d * 2 + 2.0 * tokens * (s.d / 2) * 4;
      Time(reporter, "Rope", "llama3-8b/T" + std::to_string(tokens), [&] {
        return duo::LaunchRope(d_qkv.As<__nv_bfloat16>(), tokens, s.hq, s.hkv, s.d, d_cos.As<float>(), d_sin.As<float>(), nullptr);
      }, bytes);
    }
  }
}

DUO_CHECK(SwiGlu) {
  const double kWindow = 1e-6;  // ~8 fp32 ulps: expf is within 2 ulps, the division and add 0.5 each
  for (const ModelShape& shape : kShapes) {
    const int m = shape.m;
    for (int tokens : kTokens) {
      const std::vector<uint16_t> gate_up = RandomBf16(static_cast<std::size_t>(tokens) * 2 * m, 41 + tokens, 6.0f);
      duo::DeviceBuffer d_in, d_out;
      if (!Upload(reporter, d_in, gate_up, "gate_up") || !reporter.Ok(d_out.Allocate(static_cast<std::size_t>(tokens) * m * 2), "cudaMalloc out"))
        return;
      if (!reporter.Ok(duo::LaunchSwiGlu(d_in.As<__nv_bfloat16>(), tokens, m, d_out.As<__nv_bfloat16>(), nullptr), "LaunchSwiGlu"))
        return;
      std::vector<uint16_t> out(static_cast<std::size_t>(tokens) * m);
      if (!Download(reporter, out, d_out, "out")) return;
      std::size_t wrong = 0;
      std::size_t ambiguous = 0;
      for (int t = 0; t < tokens; ++t) {
        for (int i = 0; i < m; ++i) {
          const double g = Bf16BitsToFloat(gate_up[static_cast<std::size_t>(t) * 2 * m + i]);
          const float u = Bf16BitsToFloat(gate_up[static_cast<std::size_t>(t) * 2 * m + m + i]);
          const double silu = g / (1.0 + std::exp(-g));
          uint16_t lo, hi;
          BracketBf16(silu, kWindow, lo, hi);
          const uint16_t got = out[static_cast<std::size_t>(t) * m + i];
          const uint16_t want_lo = FloatToBf16Bits(Bf16BitsToFloat(lo) * u);
          const uint16_t want_hi = FloatToBf16Bits(Bf16BitsToFloat(hi) * u);
          if (lo != hi) ++ambiguous;
          if (got != want_lo && got != want_hi) ++wrong;
        }
      }
      reporter.Case("SwiGlu", std::string(shape.name) + "/T" + std::to_string(tokens), wrong == 0,
                    Fields()
                        .Text("tolerance", "bit-identical; either rounding where fp32 SiLU is within 1e-6 (relative) of a bf16 boundary")
                        .Number("mismatches", static_cast<double>(wrong))
                        .Number("ambiguous", static_cast<double>(ambiguous))
                        .Number("elements", static_cast<double>(out.size())));
    }
  }
  if (reporter.Benchmarks()) {
    const int m = kLlama.m;
    for (int tokens : {1, 4096}) {
      duo::DeviceBuffer d_in, d_out;
      const std::size_t in_bytes = static_cast<std::size_t>(tokens) * 2 * m * 2;
      if (!reporter.Ok(d_in.Allocate(in_bytes), "cudaMalloc") || !reporter.Ok(cudaMemset(d_in.As<void>(), 0, in_bytes), "memset") ||
          !reporter.Ok(d_out.Allocate(static_cast<std::size_t>(tokens) * m * 2), "cudaMalloc"))
        return;
      const double bytes = 3.0 * tokens * m * 2;
      Time(reporter, "SwiGlu", "llama3-8b/T" + std::to_string(tokens), [&] {
        return duo::LaunchSwiGlu(d_in.As<__nv_bfloat16>(), tokens, m, d_out.As<__nv_bfloat16>(), nullptr);
      }, bytes);
    }
  }
}

DUO_CHECK(AddRmsNorm) {
  // ~80 fp32 ulps: the GPU's fp32 sum of squares (<= ~40 sequential + tree levels), rsqrtf (2 ulps)
  // and the product stay well inside it.
  const double kWindow = 1e-5;
  const float eps = 1e-5f;
  struct Case {
    std::string name;
    int tokens;
    int hidden;
  };
  std::vector<Case> cases;
  for (const ModelShape& shape : kShapes)
    for (int tokens : kTokens) cases.push_back({std::string(shape.name) + "/T" + std::to_string(tokens), tokens, shape.hidden});
  cases.push_back({"hidden16384/T3", 3, 16384});  // 4 packs per thread
  cases.push_back({"hidden1000/T3", 3, 1000});    // unvectorised path
  for (const Case& c : cases) {
    const std::size_t count = static_cast<std::size_t>(c.tokens) * c.hidden;
    const std::vector<uint16_t> residual = RandomBf16(count, 51 + c.hidden + c.tokens, 2.0f);
    const std::vector<uint16_t> delta = RandomBf16(count, 52 + c.hidden + c.tokens, 1.0f);
    const std::vector<uint16_t> weight = RandomBf16(c.hidden, 53 + c.hidden, 1.5f);
    duo::DeviceBuffer d_res, d_delta, d_w, d_out;
    if (!Upload(reporter, d_res, residual, "residual") || !Upload(reporter, d_delta, delta, "delta") ||
        !Upload(reporter, d_w, weight, "weight") || !reporter.Ok(d_out.Allocate(count * 2), "cudaMalloc normed"))
      return;
    if (!reporter.Ok(duo::LaunchAddRmsNorm(d_res.As<__nv_bfloat16>(), d_delta.As<__nv_bfloat16>(), d_w.As<__nv_bfloat16>(),
                                           c.tokens, c.hidden, eps, d_out.As<__nv_bfloat16>(), nullptr),
                     "LaunchAddRmsNorm"))
      return;
    std::vector<uint16_t> got_res(count), got_out(count);
    if (!Download(reporter, got_res, d_res, "residual") || !Download(reporter, got_out, d_out, "normed")) return;
    std::vector<uint16_t> want_res(count);
    std::size_t wrong = 0;
    std::size_t ambiguous = 0;
    for (int t = 0; t < c.tokens; ++t) {
      const std::size_t row = static_cast<std::size_t>(t) * c.hidden;
      double sum = 0;
      for (int i = 0; i < c.hidden; ++i) {
        want_res[row + i] = FloatToBf16Bits(Bf16BitsToFloat(residual[row + i]) + Bf16BitsToFloat(delta[row + i]));
        const double x = Bf16BitsToFloat(want_res[row + i]);
        sum += x * x;
      }
      const double inv = 1.0 / std::sqrt(sum / c.hidden + static_cast<double>(eps));
      for (int i = 0; i < c.hidden; ++i) {
        uint16_t lo, hi;
        BracketBf16(Bf16BitsToFloat(want_res[row + i]) * inv, kWindow, lo, hi);
        const float w = Bf16BitsToFloat(weight[i]);
        const uint16_t a = FloatToBf16Bits(w * Bf16BitsToFloat(lo));
        const uint16_t b = FloatToBf16Bits(w * Bf16BitsToFloat(hi));
        if (lo != hi) ++ambiguous;
        if (got_out[row + i] != a && got_out[row + i] != b) ++wrong;
      }
    }
    const std::size_t wrong_res = CountDifferent(got_res, want_res);
    reporter.Case("AddRmsNorm", c.name, wrong == 0 && wrong_res == 0,
                  Fields()
                      .Text("tolerance", "residual bit-identical; normed bit-identical, either rounding where x*inv_rms is within 1e-5 (relative) of a bf16 boundary")
                      .Number("residual_mismatches", static_cast<double>(wrong_res))
                      .Number("normed_mismatches", static_cast<double>(wrong))
                      .Number("ambiguous", static_cast<double>(ambiguous))
                      .Number("elements", static_cast<double>(count)));
  }
  if (reporter.Benchmarks()) {
    const int h = kLlama.hidden;
    for (int tokens : {1, 4096}) {
      const std::size_t bytes_one = static_cast<std::size_t>(tokens) * h * 2;
      duo::DeviceBuffer d_res, d_delta, d_w, d_out;
      if (!reporter.Ok(d_res.Allocate(bytes_one), "cudaMalloc") || !reporter.Ok(d_delta.Allocate(bytes_one), "cudaMalloc") ||
          !reporter.Ok(d_w.Allocate(h * 2), "cudaMalloc") || !reporter.Ok(d_out.Allocate(bytes_one), "cudaMalloc"))
        return;
      cudaMemset(d_res.As<void>(), 0, bytes_one);
      cudaMemset(d_delta.As<void>(), 0, bytes_one);
      cudaMemset(d_w.As<void>(), 0, h * 2);
      const double bytes = 4.0 * bytes_one + h * 2.0;
      Time(reporter, "AddRmsNorm", "llama3-8b/T" + std::to_string(tokens), [&] {
        return duo::LaunchAddRmsNorm(d_res.As<__nv_bfloat16>(), d_delta.As<__nv_bfloat16>(), d_w.As<__nv_bfloat16>(), tokens, h, 1e-5f,
                                     d_out.As<__nv_bfloat16>(), nullptr);
      }, bytes);
    }
  }
}
