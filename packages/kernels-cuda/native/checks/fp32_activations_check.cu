// The fp32 seams of the decoder (kernels/fp32_activations.cuh) against CPU references computed the
// same way (fp32 arithmetic, one bf16 rounding at the end): embedding to fp32, residual add + RMSNorm,
// SwiGLU from fp32 and rotate-half RoPE from fp32. Toy and Llama-3-8B shapes.
#include <cuda_bf16.h>

#include <cmath>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "host/device_allocation.h"
#include "kernels/fp32_activations.cuh"

namespace {

using namespace duo::checks;

float RoundBf16(float v) { return Bf16BitsToFloat(FloatToBf16Bits(v)); }

/** Copies host data to a fresh device allocation; false (and a recorded error) on failure. */
template <typename T>
bool Upload(Reporter& reporter, duo::DeviceAllocation& target, const std::vector<T>& host) {
  if (!reporter.Ok(target.Allocate(host.size() * sizeof(T), "check data"))) return false;
  return reporter.Ok(cudaMemcpy(target.As<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
                     "cudaMemcpy(upload)");
}

template <typename T>
std::vector<T> Download(Reporter& reporter, const duo::DeviceAllocation& source, std::size_t count) {
  std::vector<T> host(count);
  reporter.Ok(cudaMemcpy(host.data(), source.As<void>(), count * sizeof(T), cudaMemcpyDeviceToHost),
              "cudaMemcpy(download)");
  return host;
}

/**
 * bf16 outputs may differ by one bf16 step where the fp32 value lies within float rounding of a
 * bf16 rounding boundary (sum order, rsqrtf, expf): allowed per element as 1 ulp of bf16.
 */
bool WithinOneBf16Step(const std::vector<float>& actual, const std::vector<float>& expected, double* worst) {
  *worst = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double step = std::ldexp(1.0, std::ilogb(std::fmax(std::fabs(expected[i]), 1e-30f)) - 7);
    const double err = std::fabs(actual[i] - expected[i]) / step;
    if (err > *worst) *worst = err;
  }
  return *worst <= 1.0;
}

}  // namespace

DUO_CHECK(Fp32Activations) {
  struct Shape {
    const char* name;
    int tokens, hidden, q_heads, kv_heads, head_dim, m, vocab;
  };
  const Shape shapes[] = {{"toy-T3", 3, 256, 8, 4, 32, 1024, 2048}, {"llama-T2", 2, 4096, 32, 8, 128, 14336, 4096},
                          {"fixture-T5", 5, 64, 4, 2, 16, 96, 320},
                          // Wider than the norm keeps in registers (16 floats x 1024 threads): its re-read path.
                          {"wide-T1", 1, 24576, 8, 8, 128, 256, 64}};
  for (const Shape& s : shapes) {
    const std::string tag = s.name;
    // Embedding to fp32: exact.
    {
      std::vector<float> table = RandomFloats(static_cast<std::size_t>(s.vocab) * s.hidden, 21, 1.0f);
      RoundToBf16(table);
      std::vector<int32_t> ids(s.tokens);
      for (int t = 0; t < s.tokens; ++t) ids[t] = (t * 7919 + 13) % s.vocab;
      duo::DeviceAllocation d_table, d_ids, d_out;
      if (!Upload(reporter, d_table, ToBf16Bits(table)) || !Upload(reporter, d_ids, ids)) return;
      if (!reporter.Ok(d_out.Allocate(static_cast<std::size_t>(s.tokens) * s.hidden * 4, "out")))
        return;
      if (!reporter.Ok(duo::LaunchEmbeddingF32(d_table.As<__nv_bfloat16>(), d_ids.As<int32_t>(), s.tokens, s.hidden,
                                               d_out.As<float>(), nullptr),
                       "LaunchEmbeddingF32"))
        return;
      const std::vector<float> out = Download<float>(reporter, d_out, static_cast<std::size_t>(s.tokens) * s.hidden);
      bool exact = true;
      for (int t = 0; t < s.tokens; ++t)
        for (int j = 0; j < s.hidden; ++j) exact &= out[t * s.hidden + j] == table[static_cast<std::size_t>(ids[t]) * s.hidden + j];
      reporter.Case("Fp32Activations", "embedding/" + tag, exact, Fields().Bool("bit_identical", exact));
    }
    // Residual add + RMSNorm (with and without delta).
    for (bool with_delta : {true, false}) {
      const std::size_t n = static_cast<std::size_t>(s.tokens) * s.hidden;
      std::vector<float> residual = RandomFloats(n, 31, 4.0f);
      std::vector<float> delta = RandomFloats(n, 32, 1.0f);
      std::vector<float> weight = RandomFloats(s.hidden, 33, 0.5f);
      for (float& w : weight) w += 1.0f;
      RoundToBf16(weight);
      std::vector<float> new_residual = residual;
      std::vector<float> expected(n);
      for (int t = 0; t < s.tokens; ++t) {
        double sum = 0;
        for (int j = 0; j < s.hidden; ++j) {
          float& r = new_residual[t * s.hidden + j];
          if (with_delta) r += delta[t * s.hidden + j];
          sum += static_cast<double>(r) * r;
        }
        const double inv = 1.0 / std::sqrt(sum / s.hidden + 1e-5);
        for (int j = 0; j < s.hidden; ++j)
          expected[t * s.hidden + j] = RoundBf16(static_cast<float>(weight[j] * (new_residual[t * s.hidden + j] * inv)));
      }
      duo::DeviceAllocation d_res, d_delta, d_w, d_out;
      if (!Upload(reporter, d_res, residual) || !Upload(reporter, d_delta, delta) ||
          !Upload(reporter, d_w, ToBf16Bits(weight)))
        return;
      if (!reporter.Ok(d_out.Allocate(n * 2, "out"))) return;
      if (!reporter.Ok(duo::LaunchResidualRmsNorm(d_res.As<float>(), with_delta ? d_delta.As<float>() : nullptr,
                                                  d_w.As<__nv_bfloat16>(), s.tokens, s.hidden, 1e-5f,
                                                  d_out.As<__nv_bfloat16>(), nullptr),
                       "LaunchResidualRmsNorm"))
        return;
      const std::vector<float> got_residual = Download<float>(reporter, d_res, n);
      const std::vector<float> got = FromBf16Bits(Download<uint16_t>(reporter, d_out, n));
      bool residual_exact = got_residual == new_residual;
      double worst = 0;
      const bool normed_ok = WithinOneBf16Step(got, expected, &worst);
      reporter.Case("Fp32Activations", std::string("residual_rms_norm/") + (with_delta ? "add/" : "norm-only/") + tag,
                    residual_exact && normed_ok,
                    Fields().Bool("residual_bit_identical", residual_exact).Number("worst_bf16_steps", worst));
    }
    // SwiGLU from fp32 gate|up.
    {
      const std::size_t n = static_cast<std::size_t>(s.tokens) * s.m;
      std::vector<float> gate_up = RandomFloats(2 * n, 41, 6.0f);
      std::vector<float> expected(n);
      for (int t = 0; t < s.tokens; ++t)
        for (int j = 0; j < s.m; ++j) {
          const float g = gate_up[static_cast<std::size_t>(t) * 2 * s.m + j];
          const float u = gate_up[static_cast<std::size_t>(t) * 2 * s.m + s.m + j];
          expected[static_cast<std::size_t>(t) * s.m + j] = RoundBf16(static_cast<float>(g / (1.0 + std::exp(-static_cast<double>(g))) * u));
        }
      duo::DeviceAllocation d_in, d_out;
      if (!Upload(reporter, d_in, gate_up)) return;
      if (!reporter.Ok(d_out.Allocate(n * 2, "out"))) return;
      if (!reporter.Ok(duo::LaunchSwiGluF32(d_in.As<float>(), s.tokens, s.m, d_out.As<__nv_bfloat16>(), nullptr),
                       "LaunchSwiGluF32"))
        return;
      double worst = 0;
      const bool ok = WithinOneBf16Step(FromBf16Bits(Download<uint16_t>(reporter, d_out, n)), expected, &worst);
      reporter.Case("Fp32Activations", "swiglu/" + tag, ok, Fields().Number("worst_bf16_steps", worst));
    }
    // RoPE from fp32 q|k|v to bf16.
    {
      const int width = (s.q_heads + 2 * s.kv_heads) * s.head_dim;
      const int half = s.head_dim / 2;
      const std::size_t n = static_cast<std::size_t>(s.tokens) * width;
      std::vector<float> qkv = RandomFloats(n, 51, 3.0f);
      std::vector<float> cos(static_cast<std::size_t>(s.tokens) * half);
      std::vector<float> sin(cos.size());
      for (int t = 0; t < s.tokens; ++t)
        for (int i = 0; i < half; ++i) {
          const double angle = (100 + t) * std::pow(10000.0, -2.0 * i / s.head_dim);
          cos[t * half + i] = static_cast<float>(std::cos(angle));
          sin[t * half + i] = static_cast<float>(std::sin(angle));
        }
      std::vector<float> expected(n);
      for (int t = 0; t < s.tokens; ++t)
        for (int j = 0; j < width; ++j) {
          const float* row = &qkv[static_cast<std::size_t>(t) * width];
          float y = row[j];
          if (j < (s.q_heads + s.kv_heads) * s.head_dim) {
            const int i = j % s.head_dim;
            y = i < half ? row[j] * cos[t * half + i] - row[j + half] * sin[t * half + i]
                         : row[j] * cos[t * half + i - half] + row[j - half] * sin[t * half + i - half];
          }
          expected[static_cast<std::size_t>(t) * width + j] = RoundBf16(y);
        }
      duo::DeviceAllocation d_in, d_cos, d_sin, d_out;
      if (!Upload(reporter, d_in, qkv) || !Upload(reporter, d_cos, cos) || !Upload(reporter, d_sin, sin)) return;
      if (!reporter.Ok(d_out.Allocate(n * 2, "out"))) return;
      if (!reporter.Ok(duo::LaunchRopeF32(d_in.As<float>(), s.tokens, s.q_heads, s.kv_heads, s.head_dim,
                                          d_cos.As<float>(), d_sin.As<float>(), d_out.As<__nv_bfloat16>(), nullptr),
                       "LaunchRopeF32"))
        return;
      double worst = 0;
      const bool ok = WithinOneBf16Step(FromBf16Bits(Download<uint16_t>(reporter, d_out, n)), expected, &worst);
      reporter.Case("Fp32Activations", "rope/" + tag, ok, Fields().Number("worst_bf16_steps", worst));
    }
  }
}
