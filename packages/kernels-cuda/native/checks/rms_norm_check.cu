// RMSNorm (bf16) against an fp32 CPU reference that rounds like the kernel, and its bandwidth.
#include <cuda_bf16.h>

#include <cmath>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/rms_norm.cuh"

namespace {

using namespace duo::checks;

float Round(float v) { return Bf16BitsToFloat(FloatToBf16Bits(v)); }

}  // namespace

DUO_CHECK(RmsNormBf16) {
  const int shapes[][2] = {{1, 4096}, {7, 1000}, {64, 8192}, {4096, 4096}};
  for (const auto& shape : shapes) {
    const int rows = shape[0];
    const int cols = shape[1];
    const std::string name = std::to_string(rows) + "x" + std::to_string(cols);
    std::vector<float> x = RandomFloats(static_cast<std::size_t>(rows) * cols, 11, 3.0f);
    std::vector<float> w = RandomFloats(cols, 12, 1.0f);
    RoundToBf16(x);
    RoundToBf16(w);
    std::vector<float> expected(x.size());
    for (int r = 0; r < rows; ++r) {
      double sum = 0;
      for (int c = 0; c < cols; ++c) sum += static_cast<double>(x[r * cols + c]) * x[r * cols + c];
      const float inv = 1.0f / std::sqrt(static_cast<float>(sum / cols) + 1e-5f);
      for (int c = 0; c < cols; ++c) expected[r * cols + c] = Round(w[c] * Round(x[r * cols + c] * inv));
    }
    const std::size_t bytes = x.size() * 2;
    duo::DeviceBuffer dx, dw, dy;
    if (!reporter.Ok(dx.Allocate(bytes), "cudaMalloc") || !reporter.Ok(dw.Allocate(cols * 2), "cudaMalloc") ||
        !reporter.Ok(dy.Allocate(bytes), "cudaMalloc"))
      return;
    const std::vector<uint16_t> xb = ToBf16Bits(x);
    const std::vector<uint16_t> wb = ToBf16Bits(w);
    cudaMemcpy(dx.As<void>(), xb.data(), bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(dw.As<void>(), wb.data(), cols * 2, cudaMemcpyHostToDevice);
    auto launch = [&] {
      return duo::LaunchRmsNormBf16(dx.As<__nv_bfloat16>(), dw.As<__nv_bfloat16>(), dy.As<__nv_bfloat16>(), rows,
                                    cols, 1e-5f, nullptr);
    };
    if (!reporter.Ok(launch(), "LaunchRmsNormBf16")) return;
    std::vector<uint16_t> yb(x.size());
    if (!reporter.Ok(cudaMemcpy(yb.data(), dy.As<void>(), bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(y)")) return;
    // The CPU sums in double, the kernel in fp32: allow one bf16 ulp.
    const ErrorStats err = CompareArrays(FromBf16Bits(yb), expected);
    reporter.Case("RmsNormBf16", name, err.max_rel <= 1.6e-2,
                  Fields().Number("max_abs", err.max_abs).Number("max_rel", err.max_rel));
    if (reporter.Benchmarks() && rows >= 64) {
      const double ms = MedianMilliseconds(launch);
      const double moved = 2.0 * bytes + cols * 2;
      const double floor_ms = moved / CopyBandwidth(reporter) * 1e3;
      reporter.Timing("RmsNormBf16", name,
                      Fields().Number("ms", ms).Number("bytes", moved).Number("floor_ms", floor_ms).Number("ratio", ms / floor_ms));
    }
  }
}
