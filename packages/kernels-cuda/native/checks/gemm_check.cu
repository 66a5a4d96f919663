// Gemm (skinny kernel and cuBLASLt) against an fp64 CPU reference on bf16-rounded random data,
// and its speed on Llama-3-8B shapes: decode (m = 1, 8) against the bandwidth floor, prefill
// (m = 4096, 16384) against the H100 SXM dense bf16 peak.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "host/gemm.h"
#include "kernels/fill_random.cuh"
#include "kernels/gemv.cuh"

namespace {

using namespace duo::checks;
using duo::Gemm;
using duo::GemmOutput;

/** The one Gemm of this process (created on first use, on the current device). */
Gemm* SharedGemm(Reporter& reporter) {
  static std::unique_ptr<Gemm> gemm;
  static bool tried = false;
  if (!tried) {
    tried = true;
    const duo::Status status = Gemm::Create(&gemm);
    if (!status.ok()) {
      reporter.Case("Gemm", "create", false, Fields().Text("error", status.message()));
      gemm.reset();
    }
  }
  return gemm.get();
}

/**
 * Compares y (m x n, from the GPU) with ref = sum_k x w in fp64, element by element, against
 *   acc = 2^-24 (16 sqrt(k) + 16) S,   S = sum_k |x w|   (fp32 accumulation in any order: random
 *         rounding errors grow like sqrt(k) u S; 16x headroom, yet a dropped 1/16 of k is caught)
 *   tol = acc                                   (fp32 output)
 *   tol = 2^-8 (|ref| + acc) + acc              (bf16 output: one round-to-nearest, <= 2^-8 relative)
 * Returns the worst err / tol (pass: <= 1; NaN or Inf counts as a failure).
 */
struct Verdict {
  double worst_ratio = 0;
  double max_abs = 0;
  bool finite = true;
};
Verdict Judge(const std::vector<float>& y, const std::vector<double>& ref, const std::vector<double>& sum_abs, int k,
              bool bf16_out) {
  Verdict verdict;
  const double u = std::ldexp(1.0, -24);
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(y[i])) {
      verdict.finite = false;
      continue;
    }
    const double acc = u * (16.0 * std::sqrt(static_cast<double>(k)) + 16.0) * sum_abs[i];
    const double tol = bf16_out ? std::ldexp(1.0, -8) * (std::fabs(ref[i]) + acc) + acc : acc;
    const double err = std::fabs(static_cast<double>(y[i]) - ref[i]);
    verdict.max_abs = std::max(verdict.max_abs, err);
    verdict.worst_ratio = std::max(verdict.worst_ratio, err / (tol > 0 ? tol : 1e-30));
  }
  return verdict;
}

/**
 * Median milliseconds per call of `calls` back-to-back calls: a decode step enqueues its GEMMs
 * behind each other, so the host's launch gap (which one call between two events would count)
 * is hidden there too.
 */
double PerCallMilliseconds(const std::function<cudaError_t()>& launch, int calls) {
  const double ms = MedianMilliseconds([&] {
    for (int i = 0; i < calls; ++i) {
      const cudaError_t error = launch();
      if (error != cudaSuccess) return error;
    }
    return cudaSuccess;
  });
  return ms < 0 ? ms : ms / calls;
}

struct Shape {
  int n;
  int k;
  const char* what;
  int max_m;  // larger m skipped (keeps the CPU reference quick)
};

}  // namespace

DUO_CHECK(GemmCublasLtLoaded) {
  Gemm* gemm = SharedGemm(reporter);
  if (gemm == nullptr) return;
  // On the GPU machine cuBLASLt must load: prefill depends on it.
  reporter.Case("GemmCublasLtLoaded", "load", gemm->cublaslt_available(),
                Fields()
                    .Text("path", gemm->cublaslt_path())
                    .Number("version", static_cast<double>(gemm->cublaslt_version()))
                    .Text("error", gemm->cublaslt_error()));
}

DUO_CHECK(Gemm) {
  Gemm* gemm = SharedGemm(reporter);
  if (gemm == nullptr) return;
  const Shape shapes[] = {
      {1000, 264, "odd", 1 << 30},         {1003, 136, "odd-n", 1 << 30},   {512, 256, "toy-qkv", 1 << 30},
      {256, 256, "toy-o", 1 << 30},        {2048, 256, "toy-gate-up", 1 << 30}, {256, 1024, "toy-down", 1 << 30},
      {33, 8, "k8", 1 << 30},              {3, 4096, "n3", 1 << 30},        {100, 100, "k-not-8", 1 << 30},
      {97, 20000, "k-tiles", 9},  // x exceeds the skinny kernel's shared-memory tile for m >= 2
      // m = 1 takes 3 rows per task here on an H100 (2049 tasks, one round), the last one overhanging n.
      {6145, 64, "r3-overhang", 1},
  };
  const int ms[] = {1, 2, 5, 8, 9, 64, 200};
  uint64_t seed = 100;
  for (const Shape& shape : shapes) {
    for (const int m : ms) {
      if (m > shape.max_m) continue;
      const int n = shape.n;
      const int k = shape.k;
      std::vector<float> x = RandomFloats(static_cast<std::size_t>(m) * k, ++seed, 1.0f);
      std::vector<float> w = RandomFloats(static_cast<std::size_t>(n) * k, ++seed, 0.5f);
      RoundToBf16(x);
      RoundToBf16(w);
      std::vector<double> ref(static_cast<std::size_t>(m) * n);
      std::vector<double> sum_abs(ref.size());
      for (int i = 0; i < m; ++i) {
        const float* xi = &x[static_cast<std::size_t>(i) * k];
        for (int j = 0; j < n; ++j) {
          const float* wj = &w[static_cast<std::size_t>(j) * k];
          double sum = 0;
          double abs_sum = 0;
          for (int c = 0; c < k; ++c) {
            const double p = static_cast<double>(xi[c]) * wj[c];
            sum += p;
            abs_sum += std::fabs(p);
          }
          ref[static_cast<std::size_t>(i) * n + j] = sum;
          sum_abs[static_cast<std::size_t>(i) * n + j] = abs_sum;
        }
      }
      duo::DeviceBuffer dx, dw, dy;
      if (!reporter.Ok(dx.Allocate(x.size() * 2), "cudaMalloc(x)") ||
          !reporter.Ok(dw.Allocate(w.size() * 2), "cudaMalloc(w)") ||
          !reporter.Ok(dy.Allocate(ref.size() * 4), "cudaMalloc(y)"))
        return;
      const std::vector<uint16_t> xb = ToBf16Bits(x);
      const std::vector<uint16_t> wb = ToBf16Bits(w);
      if (!reporter.Ok(cudaMemcpy(dx.As<void>(), xb.data(), xb.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy(x)") ||
          !reporter.Ok(cudaMemcpy(dw.As<void>(), wb.data(), wb.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy(w)"))
        return;
      // Every path that can take this shape: Run (its own choice), and for m <= 8 also cuBLASLt
      // and the skinny kernel forced, on the same data.
      const bool skinny_ok = duo::GemvSupported(dx.As<void>(), dw.As<void>(), m, n, k);
      const bool run_is_skinny = m <= Gemm::kSkinnyMaxRows && skinny_ok;
      enum class Path { kRun, kCublasLt, kSkinny };
      for (const Path p : {Path::kRun, Path::kCublasLt, Path::kSkinny}) {
        if (p != Path::kRun && m > duo::kGemvMaxRows) continue;  // Run already was cuBLASLt
        if (p == Path::kCublasLt && !run_is_skinny) continue;     // Run already was cuBLASLt
        if (p == Path::kSkinny && (!skinny_ok || run_is_skinny)) continue;
        for (const GemmOutput out : {GemmOutput::kBf16, GemmOutput::kF32}) {
          const bool bf16_out = out == GemmOutput::kBf16;
          const std::string path = p == Path::kSkinny || (p == Path::kRun && run_is_skinny) ? "skinny" : "cublaslt";
          const std::string name = std::string(shape.what) + "_m" + std::to_string(m) + "_n" + std::to_string(n) +
                                   "_k" + std::to_string(k) + (bf16_out ? "_bf16" : "_f32") + "_" + path +
                                   (p == Path::kRun ? "" : "_forced");
          cudaMemset(dy.As<void>(), 0xFF, ref.size() * 4);  // NaN: an unwritten output fails
          const __nv_bfloat16* xp = dx.As<__nv_bfloat16>();
          const __nv_bfloat16* wp = dw.As<__nv_bfloat16>();
          const duo::Status status = p == Path::kCublasLt ? gemm->RunCublasLt(xp, wp, dy.As<void>(), out, m, n, k, nullptr)
                                     : p == Path::kSkinny ? gemm->RunSkinny(xp, wp, dy.As<void>(), out, m, n, k, nullptr)
                                                          : gemm->Run(xp, wp, dy.As<void>(), out, m, n, k, nullptr);
          if (!status.ok()) {
            reporter.Case("Gemm", name, false, Fields().Text("error", status.message()));
            continue;
          }
          std::vector<float> y(ref.size());
          if (bf16_out) {
            std::vector<uint16_t> yb(ref.size());
            if (!reporter.Ok(cudaMemcpy(yb.data(), dy.As<void>(), yb.size() * 2, cudaMemcpyDeviceToHost), "cudaMemcpy(y)"))
              return;
            y = FromBf16Bits(yb);
          } else if (!reporter.Ok(cudaMemcpy(y.data(), dy.As<void>(), y.size() * 4, cudaMemcpyDeviceToHost),
                                  "cudaMemcpy(y)")) {
            return;
          }
          const Verdict verdict = Judge(y, ref, sum_abs, k, bf16_out);
          reporter.Case("Gemm", name, verdict.finite && verdict.worst_ratio <= 1.0,
                        Fields()
                            .Text("path", path)
                            .Number("worst_err_over_tol", verdict.worst_ratio)
                            .Number("max_abs", verdict.max_abs)
                            .Bool("finite", verdict.finite));
        }
      }
    }
  }

  // Misaligned x and y (2-byte aligned): Run must leave the skinny kernel for cuBLASLt, whose plan
  // then asks for 2-byte alignment.
  for (const int m : {1, 64}) {
    const int n = 512;
    const int k = 256;
    std::vector<float> x = RandomFloats(static_cast<std::size_t>(m) * k, ++seed, 1.0f);
    std::vector<float> w = RandomFloats(static_cast<std::size_t>(n) * k, ++seed, 0.5f);
    RoundToBf16(x);
    RoundToBf16(w);
    std::vector<double> ref(static_cast<std::size_t>(m) * n), sum_abs(ref.size());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double sum = 0, abs_sum = 0;
        for (int c = 0; c < k; ++c) {
          const double p = static_cast<double>(x[i * k + c]) * w[j * k + c];
          sum += p;
          abs_sum += std::fabs(p);
        }
        ref[i * n + j] = sum;
        sum_abs[i * n + j] = abs_sum;
      }
    duo::DeviceBuffer dx, dw, dy;
    if (!reporter.Ok(dx.Allocate(x.size() * 2 + 16), "cudaMalloc(x)") ||
        !reporter.Ok(dw.Allocate(w.size() * 2), "cudaMalloc(w)") ||
        !reporter.Ok(dy.Allocate(ref.size() * 2 + 16), "cudaMalloc(y)"))
      return;
    __nv_bfloat16* x_odd = dx.As<__nv_bfloat16>() + 1;
    __nv_bfloat16* y_odd = dy.As<__nv_bfloat16>() + 1;
    const std::vector<uint16_t> xb = ToBf16Bits(x);
    const std::vector<uint16_t> wb = ToBf16Bits(w);
    cudaMemcpy(x_odd, xb.data(), xb.size() * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(dw.As<void>(), wb.data(), wb.size() * 2, cudaMemcpyHostToDevice);
    const std::string name = "misaligned_m" + std::to_string(m) + "_n512_k256_bf16";
    const duo::Status status = gemm->Run(x_odd, dw.As<__nv_bfloat16>(), y_odd, GemmOutput::kBf16, m, n, k, nullptr);
    if (!status.ok()) {
      reporter.Case("Gemm", name, false, Fields().Text("error", status.message()));
      continue;
    }
    std::vector<uint16_t> yb(ref.size());
    if (!reporter.Ok(cudaMemcpy(yb.data(), y_odd, yb.size() * 2, cudaMemcpyDeviceToHost), "cudaMemcpy(y)")) return;
    const Verdict verdict = Judge(FromBf16Bits(yb), ref, sum_abs, k, true);
    reporter.Case("Gemm", name, verdict.finite && verdict.worst_ratio <= 1.0,
                  Fields().Number("worst_err_over_tol", verdict.worst_ratio).Number("max_abs", verdict.max_abs));
  }
  reporter.Case("Gemm", "plan-cache", true, Fields().Number("cached_plans", static_cast<double>(gemm->cached_plans())));

  if (!reporter.Benchmarks()) return;

  // ---- benchmarks ------------------------------------------------------------------------------
  // Decode weights rotate through a 1 GiB+ pool, so no repetition finds its w in the 50 MB L2.
  const std::size_t pool_bytes = std::size_t{128256} * 4096 * 2;
  duo::DeviceBuffer pool, xs, ys;
  const std::size_t x_bytes = std::size_t{16384} * 14336 * 2;
  const std::size_t y_bytes = std::size_t{16384} * 28672 * 2;
  if (!reporter.Ok(pool.Allocate(pool_bytes), "cudaMalloc(w pool)") ||
      !reporter.Ok(xs.Allocate(x_bytes), "cudaMalloc(x)") || !reporter.Ok(ys.Allocate(y_bytes), "cudaMalloc(y)"))
    return;
  if (!reporter.Ok(duo::LaunchFillRandomBf16(pool.As<__nv_bfloat16>(), pool_bytes / 2, 1, 0.05f, 0.0f, nullptr),
                   "fill w") ||
      !reporter.Ok(duo::LaunchFillRandomBf16(xs.As<__nv_bfloat16>(), x_bytes / 2, 2, 1.0f, 0.0f, nullptr), "fill x"))
    return;
  const double bandwidth = CopyBandwidth(reporter);
  if (bandwidth <= 0) return;

  struct Decode {
    const char* what;
    int n;
    int k;
    GemmOutput out;
  };
  const Decode decode[] = {{"qkv", 6144, 4096, GemmOutput::kBf16},
                           {"o", 4096, 4096, GemmOutput::kBf16},
                           {"gate_up", 28672, 4096, GemmOutput::kBf16},
                           {"down", 4096, 14336, GemmOutput::kBf16},
                           {"lm_head", 128256, 4096, GemmOutput::kF32}};
  for (const int m : {1, 2, 4, 6, 8}) {
    for (const Decode& d : decode) {
      if (m > 1 && d.out == GemmOutput::kF32) continue;  // lm_head runs on the last row only
      const std::size_t w_bytes = static_cast<std::size_t>(d.n) * d.k * 2;
      const std::size_t slots = pool_bytes / w_bytes;
      for (const bool force_lt : {false, true}) {
        std::size_t iteration = 0;
        duo::Status status;
        auto launch = [&]() -> cudaError_t {
          const auto* w = reinterpret_cast<const __nv_bfloat16*>(pool.As<char>() + (iteration++ % slots) * w_bytes);
          status = force_lt ? gemm->RunCublasLt(xs.As<__nv_bfloat16>(), w, ys.As<void>(), d.out, m, d.n, d.k, nullptr)
                            : gemm->RunSkinny(xs.As<__nv_bfloat16>(), w, ys.As<void>(), d.out, m, d.n, d.k, nullptr);
          return status.ok() ? cudaSuccess : cudaErrorUnknown;
        };
        const double ms = PerCallMilliseconds(launch, 10);
        const std::string name = std::string("decode_") + d.what + "_m" + std::to_string(m) + "_n" +
                                 std::to_string(d.n) + "_k" + std::to_string(d.k) + (force_lt ? "_cublaslt" : "_skinny");
        if (!status.ok() || ms <= 0) {
          reporter.Case("GemmBench", name, false, Fields().Text("error", status.message()));
          continue;
        }
        const double bytes = static_cast<double>(w_bytes) + 2.0 * m * d.k +
                             static_cast<double>(m) * d.n * (d.out == GemmOutput::kF32 ? 4 : 2);
        const double floor_ms = bytes / bandwidth * 1e3;
        reporter.Timing("GemmBench", name,
                        Fields()
                            .Text("path", force_lt ? "cublaslt" : "skinny")
                            .Bool("run_takes_it", force_lt != (m <= Gemm::kSkinnyMaxRows))
                            .Number("ms", ms)
                            .Number("bytes", bytes)
                            .Number("floor_ms", floor_ms)
                            .Number("ratio", ms / floor_ms)
                            .Number("gb_per_s", bytes / (ms * 1e-3) / 1e9));
      }
    }
  }

  struct Prefill {
    const char* what;
    int n;
    int k;
  };
  const Prefill prefill[] = {{"qkv", 6144, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
  constexpr double kPeakFlops = 989e12;  // H100 SXM dense bf16 tensor-core peak
  for (const int m : {4096, 16384}) {
    for (const Prefill& p : prefill) {
      duo::Status status;
      auto launch = [&]() -> cudaError_t {
        status = gemm->Run(xs.As<__nv_bfloat16>(), pool.As<__nv_bfloat16>(), ys.As<void>(), GemmOutput::kBf16, m, p.n,
                           p.k, nullptr);
        return status.ok() ? cudaSuccess : cudaErrorUnknown;
      };
      const double ms = MedianMilliseconds(launch, 10, 2);
      const std::string name = std::string("prefill_") + p.what + "_m" + std::to_string(m) + "_n" +
                               std::to_string(p.n) + "_k" + std::to_string(p.k);
      if (!status.ok() || ms <= 0) {
        reporter.Case("GemmBench", name, false, Fields().Text("error", status.message()));
        continue;
      }
      const double flops = 2.0 * m * static_cast<double>(p.n) * p.k;
      const double tflops = flops / (ms * 1e-3) / 1e12;
      reporter.Timing("GemmBench", name,
                      Fields()
                          .Number("ms", ms)
                          .Number("flops", flops)
                          .Number("tflops", tflops)
                          .Number("floor_ms", flops / kPeakFlops * 1e3)
                          .Number("ratio", kPeakFlops / 1e12 / tflops)
                          .Number("peak_fraction", tflops / (kPeakFlops / 1e12)));
    }
  }
}
