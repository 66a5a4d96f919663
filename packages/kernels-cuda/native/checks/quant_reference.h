// Host references of the quantized formats, statement for statement core's quant/kv4-codec.ts,
// int8-activations.ts and w8a8-linear.ts (float32 steps as separate statements: x86-64 evaluates
// float in float, and the default target has no FMA to contract into). The checks compare the
// kernels with these bit for bit; KV4 reproduces the reference spec's worked example (§5.2).
#pragma once

#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace duo::checks {

/** fp32 -> binary16 bits, round to nearest even (as float32ToFloat16Bits). */
inline uint16_t HalfBits(float value) {
  const __half_raw raw = static_cast<__half_raw>(__float2half_rn(value));
  return raw.x;
}

inline float HalfValue(uint16_t bits) {
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}

/** KV4 groups on the host in the device layout: codes [groups, d / 2], params [groups] = scale | zero << 16. */
struct HostKv4 {
  int groups = 0;
  int group_size = 0;
  std::vector<uint8_t> codes;
  std::vector<uint32_t> params;
  uint16_t Scale(int g) const { return static_cast<uint16_t>(params[g] & 0xffffu); }
  uint16_t Zero(int g) const { return static_cast<uint16_t>(params[g] >> 16); }
};

/** quantizeKv4: `groups` consecutive groups of `group_size` values of `x`. */
inline HostKv4 QuantizeKv4Reference(const float* x, int groups, int group_size) {
  HostKv4 out;
  out.groups = groups;
  out.group_size = group_size;
  out.codes.assign(static_cast<std::size_t>(groups) * group_size / 2, 0);
  out.params.assign(groups, 0);
  for (int g = 0; g < groups; ++g) {
    const float* v = x + static_cast<std::size_t>(g) * group_size;
    float min = INFINITY;
    float max = -INFINITY;
    for (int i = 0; i < group_size; ++i) {
      if (v[i] < min) min = v[i];
      if (v[i] > max) max = v[i];
    }
    const float range = max - min;
    const float step = range / 15.0f;
    const float scale = step + 1e-8f;
    for (int i = 0; i < group_size; i += 2) {
      unsigned pair[2];
      for (int j = 0; j < 2; ++j) {
        const float shifted = v[i + j] - min;
        const float ratio = shifted / scale;
        const float code = std::round(ratio);  // ties away from zero
        pair[j] = static_cast<unsigned>(std::fmin(std::fmax(code, 0.0f), 15.0f));
      }
      out.codes[(static_cast<std::size_t>(g) * group_size + i) / 2] = static_cast<uint8_t>((pair[0] << 4) | pair[1]);
    }
    out.params[g] = static_cast<uint32_t>(HalfBits(scale)) | (static_cast<uint32_t>(HalfBits(min)) << 16);
  }
  return out;
}

/** dequantizeKv4Group: fp16(fp16(code · scale) + zero) per element (float steps are exact here, see rounding.ts). */
inline void DequantizeKv4Reference(const HostKv4& kv, int group, float* out) {
  const float scale = HalfValue(kv.Scale(group));
  const float zero = HalfValue(kv.Zero(group));
  for (int i = 0; i < kv.group_size; ++i) {
    const uint8_t byte = kv.codes[(static_cast<std::size_t>(group) * kv.group_size + i) / 2];
    const unsigned code = (i % 2 == 0) ? (byte >> 4) : (byte & 0x0f);
    const float product = HalfValue(HalfBits(static_cast<float>(code) * scale));
    out[i] = HalfValue(HalfBits(product + zero));
  }
}

/** quantizeInt8PerToken: codes [rows, features], scales [rows]. */
inline void QuantizeInt8Reference(const float* x, int rows, int features, std::vector<int8_t>* codes,
                                  std::vector<float>* scales) {
  codes->assign(static_cast<std::size_t>(rows) * features, 0);
  scales->assign(rows, 0.0f);
  for (int t = 0; t < rows; ++t) {
    const float* v = x + static_cast<std::size_t>(t) * features;
    float amax = 0.0f;
    for (int i = 0; i < features; ++i) {
      const float magnitude = std::fabs(v[i]);
      if (magnitude > amax) amax = magnitude;
    }
    const float scale = amax / 127.0f;
    (*scales)[t] = scale;
    if (scale == 0.0f) continue;
    for (int i = 0; i < features; ++i) {
      const float ratio = v[i] / scale;
      const float code = std::nearbyint(ratio);  // ties to even (default rounding mode)
      (*codes)[static_cast<std::size_t>(t) * features + i] =
          static_cast<int8_t>(std::fmin(std::fmax(code, -127.0f), 127.0f));
    }
  }
}

/** int8Matmul: y [m, n] float32 = f32(f32(f32(acc) · w_scale) · x_scale) (+ bias). */
inline std::vector<float> Int8MatmulReference(const std::vector<int8_t>& x, const std::vector<float>& x_scales,
                                              const std::vector<int8_t>& w, const std::vector<float>& w_scales,
                                              const float* bias, int m, int n, int k) {
  std::vector<float> y(static_cast<std::size_t>(m) * n);
  for (int t = 0; t < m; ++t) {
    for (int o = 0; o < n; ++o) {
      const int8_t* a = x.data() + static_cast<std::size_t>(t) * k;
      const int8_t* b = w.data() + static_cast<std::size_t>(o) * k;
      int32_t acc = 0;
      for (int i = 0; i < k; ++i) acc += static_cast<int32_t>(a[i]) * b[i];
      const float wide = static_cast<float>(acc);
      const float scaled = wide * w_scales[o];
      float value = scaled * x_scales[t];
      if (bias != nullptr) value = value + bias[o];
      y[static_cast<std::size_t>(t) * n + o] = value;
    }
  }
  return y;
}

}  // namespace duo::checks
