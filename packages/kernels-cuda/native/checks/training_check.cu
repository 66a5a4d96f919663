// Gate training's kernels against CPU references in double precision on the kernels' own bf16
// inputs: the streaming attention under both training masks (forward output and log-sum-exp,
// backward dQ, dK, dV) for every head size, and the row-wise backward steps (RMSNorm, SwiGLU,
// RoPE, the gated mix and its gradient, the distillation loss). With --bench: one GateTrainerModel
// step on a random Llama-3-8B-shaped model at 8K and 32K tokens, with its FLOP count.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "checks/llama3_8b_shape.h"
#include "device_buffer.h"
#include "host/gate_trainer.h"
#include "host/gemm.h"
#include "kernels/training_attention.cuh"
#include "kernels/prefill_attention.cuh"
#include "kernels/training_ops.cuh"

namespace {

using namespace duo::checks;
using duo::TrainingMask;

template <typename T>
bool Upload(Reporter& r, duo::DeviceBuffer& buffer, const std::vector<T>& host) {
  return r.Ok(buffer.Allocate(host.size() * sizeof(T)), "cudaMalloc") &&
         r.Ok(cudaMemcpy(buffer.As<void>(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
}

template <typename T>
bool Download(Reporter& r, const duo::DeviceBuffer& buffer, std::vector<T>& host) {
  return r.Ok(cudaMemcpy(host.data(), buffer.As<void>(), host.size() * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy");
}

/** max |a - b| / max |b|: errors relative to the tensor's scale. */
double ScaledError(const std::vector<float>& actual, const std::vector<double>& expected) {
  double worst = 0;
  double scale = 1e-30;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(actual[i]) - expected[i]));
    scale = std::max(scale, std::abs(expected[i]));
  }
  return worst / scale;
}

struct AttentionCase {
  int tokens, hq, hkv, d;
  TrainingMask mask;
};

void CheckAttention(Reporter& reporter, const AttentionCase& c) {
  const int stride = (c.hq + 2 * c.hkv) * c.d;
  const int group = c.hq / c.hkv;
  const int width = c.hq * c.d;
  const std::string name = "T" + std::to_string(c.tokens) + "_hq" + std::to_string(c.hq) + "_hkv" +
                           std::to_string(c.hkv) + "_d" + std::to_string(c.d) + (c.mask.kind == 0 ? "_token" : "_block") +
                           "_S" + std::to_string(c.mask.sink) + "_R" + std::to_string(c.mask.recent);
  std::vector<float> qkv = RandomFloats(static_cast<std::size_t>(c.tokens) * stride, 101 + c.d, 1.5f);
  std::vector<float> dout = RandomFloats(static_cast<std::size_t>(c.tokens) * width, 202 + c.d, 1.0f);
  RoundToBf16(qkv);
  RoundToBf16(dout);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  // CPU reference in double.
  std::vector<double> out(static_cast<std::size_t>(c.tokens) * width), lse(static_cast<std::size_t>(c.hq) * c.tokens);
  std::vector<double> dq(out.size()), dk(static_cast<std::size_t>(c.tokens) * c.hkv * c.d), dv(dk.size());
  const auto q = [&](int t, int h, int i) { return static_cast<double>(qkv[static_cast<std::size_t>(t) * stride + h * c.d + i]); };
  const auto k = [&](int t, int g, int i) {
    return static_cast<double>(qkv[static_cast<std::size_t>(t) * stride + (c.hq + g) * c.d + i]);
  };
  const auto v = [&](int t, int g, int i) {
    return static_cast<double>(qkv[static_cast<std::size_t>(t) * stride + (c.hq + c.hkv + g) * c.d + i]);
  };
  std::vector<double> p(c.tokens);
  for (int h = 0; h < c.hq; ++h) {
    const int g = h / group;
    for (int t = 0; t < c.tokens; ++t) {
      double max = -INFINITY;
      for (int j = 0; j <= t; ++j) {
        if (!duo::MaskVisible(c.mask, t, j)) continue;
        double s = 0;
        for (int i = 0; i < c.d; ++i) s += q(t, h, i) * k(j, g, i);
        p[j] = s * scale;
        max = std::max(max, p[j]);
      }
      double sum = 0;
      for (int j = 0; j <= t; ++j) {
        if (!duo::MaskVisible(c.mask, t, j)) continue;
        p[j] = std::exp(p[j] - max);
        sum += p[j];
      }
      lse[static_cast<std::size_t>(h) * c.tokens + t] = (max + std::log(sum)) / std::log(2.0);
      std::vector<double> o(c.d, 0.0);
      for (int j = 0; j <= t; ++j) {
        if (!duo::MaskVisible(c.mask, t, j)) continue;
        p[j] /= sum;
        for (int i = 0; i < c.d; ++i) o[i] += p[j] * v(j, g, i);
      }
      const std::size_t base = static_cast<std::size_t>(t) * width + h * c.d;
      double delta = 0;
      for (int i = 0; i < c.d; ++i) {
        out[base + i] = o[i];
        delta += o[i] * dout[base + i];
      }
      for (int j = 0; j <= t; ++j) {
        if (!duo::MaskVisible(c.mask, t, j)) continue;
        double dp = 0;
        for (int i = 0; i < c.d; ++i) dp += dout[base + i] * v(j, g, i);
        const double ds = p[j] * (dp - delta) * scale;
        for (int i = 0; i < c.d; ++i) {
          dq[base + i] += ds * k(j, g, i);
          dk[(static_cast<std::size_t>(j) * c.hkv + g) * c.d + i] += ds * q(t, h, i);
          dv[(static_cast<std::size_t>(j) * c.hkv + g) * c.d + i] += p[j] * dout[base + i];
        }
      }
    }
  }
  // The kernels, on the bf16 inputs (the backward from the kernel's own bf16 output).
  duo::DeviceBuffer d_qkv, d_out, d_lse, d_dout, d_delta, d_dq, d_dk, d_dv, d_items;
  const std::vector<uint16_t> qkv_bits = ToBf16Bits(qkv);
  const std::vector<uint16_t> dout_bits = ToBf16Bits(dout);
  const std::vector<duo::TrainingAttentionWorkItem> items = duo::TrainingAttentionWorkItems(c.mask, c.tokens, 2);
  if (!Upload(reporter, d_qkv, qkv_bits) || !Upload(reporter, d_dout, dout_bits) || !Upload(reporter, d_items, items)) return;
  if (!reporter.Ok(d_out.Allocate(out.size() * 2), "cudaMalloc") || !reporter.Ok(d_lse.Allocate(lse.size() * 4), "cudaMalloc") ||
      !reporter.Ok(d_delta.Allocate(lse.size() * 4), "cudaMalloc") || !reporter.Ok(d_dq.Allocate(dq.size() * 4), "cudaMalloc") ||
      !reporter.Ok(d_dk.Allocate(dk.size() * 4), "cudaMalloc") || !reporter.Ok(d_dv.Allocate(dv.size() * 4), "cudaMalloc")) {
    return;
  }
  duo::TrainingAttentionArgs args{};
  args.qkv = d_qkv.As<__nv_bfloat16>();
  args.tokens = c.tokens;
  args.num_q_heads = c.hq;
  args.num_kv_heads = c.hkv;
  args.head_dim = c.d;
  args.scale = static_cast<float>(scale);
  args.mask = c.mask;
  const cudaError_t forward = duo::LaunchTrainingAttentionForward(args, d_out.As<__nv_bfloat16>(), d_lse.As<float>(), nullptr);
  if (forward == cudaErrorNotSupported) {
    reporter.Case("TrainingAttention", name, true, Fields().Text("skipped", "needs more shared memory than this GPU has"));
    return;
  }
  if (!reporter.Ok(forward, "LaunchTrainingAttentionForward")) return;
  if (!reporter.Ok(duo::LaunchTrainingAttentionBackward(args, d_out.As<__nv_bfloat16>(), d_lse.As<float>(),
                                                        d_dout.As<__nv_bfloat16>(), d_delta.As<float>(), d_dq.As<float>(),
                                                        d_dk.As<float>(), d_dv.As<float>(),
                                                        d_items.As<duo::TrainingAttentionWorkItem>(),
                                                        static_cast<int>(items.size()), nullptr),
                   "LaunchTrainingAttentionBackward") ||
      !reporter.Ok(cudaDeviceSynchronize(), "training attention")) {
    return;
  }
  std::vector<uint16_t> out_bits(out.size());
  std::vector<float> lse_k(lse.size()), dq_k(dq.size()), dk_k(dk.size()), dv_k(dv.size());
  if (!Download(reporter, d_out, out_bits) || !Download(reporter, d_lse, lse_k) || !Download(reporter, d_dq, dq_k) ||
      !Download(reporter, d_dk, dk_k) || !Download(reporter, d_dv, dv_k)) {
    return;
  }
  const double e_out = ScaledError(FromBf16Bits(out_bits), out);
  const double e_lse = ScaledError(lse_k, lse);
  const double e_dq = ScaledError(dq_k, dq);
  const double e_dk = ScaledError(dk_k, dk);
  const double e_dv = ScaledError(dv_k, dv);
  // bf16 operands (P, dS and the output are rounded to bf16 on the way): about 1% of scale.
  const bool passed = e_out < 1e-2 && e_lse < 1e-4 && e_dq < 3e-2 && e_dk < 3e-2 && e_dv < 3e-2;
  reporter.Case("TrainingAttention", name, passed,
                Fields().Number("out", e_out).Number("lse", e_lse).Number("dq", e_dq).Number("dk", e_dk).Number("dv", e_dv));
}

void CheckOps(Reporter& reporter) {
  const int tokens = 37;
  const int hidden = 96;
  const int hq = 4;
  const int hkv = 2;
  const int d = 16;
  const int m = 40;
  const float eps = 1e-5f;
  // RMSNorm backward.
  {
    std::vector<float> dy = RandomFloats(tokens * hidden, 1), x = RandomFloats(tokens * hidden, 2, 2.0f),
                       add = RandomFloats(tokens * hidden, 3), w = RandomFloats(hidden, 4, 0.5f);
    for (float& value : w) value += 1.0f;
    RoundToBf16(w);
    std::vector<double> expected(dy.size());
    for (int t = 0; t < tokens; ++t) {
      double squares = 0, dot = 0;
      for (int c = 0; c < hidden; ++c) {
        squares += static_cast<double>(x[t * hidden + c]) * x[t * hidden + c];
        dot += static_cast<double>(dy[t * hidden + c]) * w[c] * x[t * hidden + c];
      }
      const double r = 1.0 / std::sqrt(squares / hidden + eps);
      for (int c = 0; c < hidden; ++c) {
        expected[t * hidden + c] =
            add[t * hidden + c] + r * dy[t * hidden + c] * w[c] - x[t * hidden + c] * r * r * r * dot / hidden;
      }
    }
    duo::DeviceBuffer bdy, bx, badd, bw, bdx;
    if (!Upload(reporter, bdy, dy) || !Upload(reporter, bx, x) || !Upload(reporter, badd, add) ||
        !Upload(reporter, bw, ToBf16Bits(w)) || !reporter.Ok(bdx.Allocate(dy.size() * 4), "cudaMalloc")) {
      return;
    }
    if (!reporter.Ok(duo::LaunchRmsNormBackward(bdy.As<float>(), bx.As<float>(), bw.As<__nv_bfloat16>(), badd.As<float>(),
                                                tokens, hidden, eps, bdx.As<float>(), nullptr),
                     "LaunchRmsNormBackward")) {
      return;
    }
    std::vector<float> got(dy.size());
    if (!Download(reporter, bdx, got)) return;
    const double e = ScaledError(got, expected);
    reporter.Case("TrainingOps", "rms_norm_backward", e < 1e-5, Fields().Number("error", e));
  }
  // SwiGLU backward.
  {
    std::vector<float> gu = RandomFloats(tokens * 2 * m, 5, 3.0f), dact = RandomFloats(tokens * m, 6);
    RoundToBf16(gu);
    std::vector<double> expected(gu.size());
    for (int t = 0; t < tokens; ++t) {
      for (int j = 0; j < m; ++j) {
        const double g = gu[t * 2 * m + j], u = gu[t * 2 * m + m + j], s = 1 / (1 + std::exp(-g)), a = dact[t * m + j];
        expected[t * 2 * m + j] = a * u * s * (1 + g * (1 - s));
        expected[t * 2 * m + m + j] = a * g * s;
      }
    }
    duo::DeviceBuffer bgu, bda, bout;
    if (!Upload(reporter, bgu, ToBf16Bits(gu)) || !Upload(reporter, bda, dact) ||
        !reporter.Ok(bout.Allocate(gu.size() * 2), "cudaMalloc")) {
      return;
    }
    if (!reporter.Ok(duo::LaunchSwiGluBackward(bgu.As<__nv_bfloat16>(), bda.As<float>(), tokens, m, bout.As<__nv_bfloat16>(),
                                               nullptr),
                     "LaunchSwiGluBackward")) {
      return;
    }
    std::vector<uint16_t> bits(gu.size());
    if (!Download(reporter, bout, bits)) return;
    const double e = ScaledError(FromBf16Bits(bits), expected);
    reporter.Case("TrainingOps", "swiglu_backward", e < 8e-3, Fields().Number("error", e));
  }
  // RoPE backward: the transpose of the forward rotation.
  {
    const int half = d / 2;
    std::vector<float> dq = RandomFloats(tokens * hq * d, 7), dk = RandomFloats(tokens * hkv * d, 8), dv = RandomFloats(tokens * hkv * d, 9);
    std::vector<float> cos(tokens * half), sin(tokens * half);
    for (int t = 0; t < tokens; ++t) {
      for (int i = 0; i < half; ++i) {
        const double angle = t * std::pow(10000.0, -2.0 * i / d);
        cos[t * half + i] = static_cast<float>(std::cos(angle));
        sin[t * half + i] = static_cast<float>(std::sin(angle));
      }
    }
    const int heads = hq + 2 * hkv;
    std::vector<double> expected(static_cast<std::size_t>(tokens) * heads * d);
    for (int t = 0; t < tokens; ++t) {
      for (int h = 0; h < heads; ++h) {
        const float* src = h < hq ? &dq[(t * hq + h) * d] : h < hq + hkv ? &dk[(t * hkv + h - hq) * d] : &dv[(t * hkv + h - hq - hkv) * d];
        for (int i = 0; i < half; ++i) {
          const double a = src[i], b = src[i + half], c = cos[t * half + i], s = sin[t * half + i];
          const std::size_t base = (static_cast<std::size_t>(t) * heads + h) * d;
          expected[base + i] = h < hq + hkv ? a * c + b * s : a;
          expected[base + i + half] = h < hq + hkv ? b * c - a * s : b;
        }
      }
    }
    duo::DeviceBuffer bq, bk, bv, bc, bs, bout;
    if (!Upload(reporter, bq, dq) || !Upload(reporter, bk, dk) || !Upload(reporter, bv, dv) || !Upload(reporter, bc, cos) ||
        !Upload(reporter, bs, sin) || !reporter.Ok(bout.Allocate(expected.size() * 2), "cudaMalloc")) {
      return;
    }
    if (!reporter.Ok(duo::LaunchRopeBackward(bq.As<float>(), bk.As<float>(), bv.As<float>(), bc.As<float>(), bs.As<float>(),
                                             tokens, hq, hkv, d, bout.As<__nv_bfloat16>(), nullptr),
                     "LaunchRopeBackward")) {
      return;
    }
    std::vector<uint16_t> bits(expected.size());
    if (!Download(reporter, bout, bits)) return;
    const double e = ScaledError(FromBf16Bits(bits), expected);
    reporter.Case("TrainingOps", "rope_backward", e < 8e-3, Fields().Number("error", e));
  }
  // Gate mix forward and backward.
  {
    const int width = hq * d;
    std::vector<float> full = RandomFloats(tokens * width, 10), stream = RandomFloats(tokens * width, 11),
                       dmix = RandomFloats(tokens * width, 12);
    RoundToBf16(full);
    RoundToBf16(stream);
    const std::vector<float> gates = {0.25f, 1.25f};  // the second is clamped: no gradient
    std::vector<double> mixed(full.size()), dstream(full.size()), grad(hkv, 0.0);
    for (int t = 0; t < tokens; ++t) {
      for (int h = 0; h < hq; ++h) {
        const int g = h / (hq / hkv);
        const double a = std::min(1.0f, std::max(0.0f, gates[g]));
        for (int i = 0; i < d; ++i) {
          const std::size_t index = static_cast<std::size_t>(t) * width + h * d + i;
          mixed[index] = a * full[index] + (1 - a) * stream[index];
          dstream[index] = (1 - a) * dmix[index];
          if (gates[g] <= 1.0f) grad[g] += (full[index] - stream[index]) * dmix[index];
        }
      }
    }
    duo::DeviceBuffer bf, bst, bg, bm, bdm, bds, bgrad;
    if (!Upload(reporter, bf, ToBf16Bits(full)) || !Upload(reporter, bst, ToBf16Bits(stream)) || !Upload(reporter, bg, gates) ||
        !Upload(reporter, bdm, dmix) || !reporter.Ok(bm.Allocate(full.size() * 2), "cudaMalloc") ||
        !reporter.Ok(bds.Allocate(full.size() * 2), "cudaMalloc") ||
        !Upload(reporter, bgrad, std::vector<double>(hkv, 0.0))) {
      return;
    }
    if (!reporter.Ok(duo::LaunchGateMix(bf.As<__nv_bfloat16>(), bst.As<__nv_bfloat16>(), bg.As<float>(), tokens, hq, hkv, d,
                                        bm.As<__nv_bfloat16>(), nullptr),
                     "LaunchGateMix") ||
        !reporter.Ok(duo::LaunchGateMixBackward(bdm.As<float>(), bf.As<__nv_bfloat16>(), bst.As<__nv_bfloat16>(), bg.As<float>(),
                                                tokens, hq, hkv, d, bds.As<__nv_bfloat16>(), bgrad.As<double>(), nullptr),
                     "LaunchGateMixBackward")) {
      return;
    }
    std::vector<uint16_t> mbits(full.size()), dbits(full.size());
    std::vector<double> got_grad(hkv);
    if (!Download(reporter, bm, mbits) || !Download(reporter, bds, dbits) || !Download(reporter, bgrad, got_grad)) return;
    const double e_mix = ScaledError(FromBf16Bits(mbits), mixed);
    const double e_ds = ScaledError(FromBf16Bits(dbits), dstream);
    const double e_grad = std::abs(got_grad[0] - grad[0]) / std::max(1e-12, std::abs(grad[0]));
    reporter.Case("TrainingOps", "gate_mix", e_mix < 8e-3 && e_ds < 8e-3 && e_grad < 1e-5 && got_grad[1] == 0.0,
                  Fields().Number("mix", e_mix).Number("d_streaming", e_ds).Number("gradient", e_grad).Number("clamped_gradient", got_grad[1]));
  }
  // Distillation loss and its gradient.
  {
    std::vector<float> xs = RandomFloats(tokens * hidden, 13, 2.0f), xt = RandomFloats(tokens * hidden, 14, 2.0f),
                       w = RandomFloats(hidden, 15, 0.5f);
    for (float& value : w) value += 1.0f;
    RoundToBf16(w);
    std::vector<uint8_t> labels(tokens, 0);
    for (int t = tokens - 9; t < tokens; ++t) labels[t] = 1;
    const int n = 9;
    double loss = 0;
    std::vector<double> expected(xs.size(), 0.0);
    for (int t = tokens - n; t < tokens; ++t) {
      double ss = 0, st = 0;
      for (int c = 0; c < hidden; ++c) {
        ss += static_cast<double>(xs[t * hidden + c]) * xs[t * hidden + c];
        st += static_cast<double>(xt[t * hidden + c]) * xt[t * hidden + c];
      }
      const double rs = 1 / std::sqrt(ss / hidden + eps), rt = 1 / std::sqrt(st / hidden + eps);
      std::vector<double> dh(hidden);
      double dot = 0;
      for (int c = 0; c < hidden; ++c) {
        const double diff = w[c] * xs[t * hidden + c] * rs - w[c] * xt[t * hidden + c] * rt;
        loss += diff * diff / (hidden * n);
        dh[c] = 2 * diff / (hidden * n);
        dot += dh[c] * w[c] * xs[t * hidden + c];
      }
      for (int c = 0; c < hidden; ++c) {
        expected[t * hidden + c] = rs * dh[c] * w[c] - xs[t * hidden + c] * rs * rs * rs * dot / hidden;
      }
    }
    duo::DeviceBuffer bxs, bxt, bw, bl, bdx, bloss;
    if (!Upload(reporter, bxs, xs) || !Upload(reporter, bxt, xt) || !Upload(reporter, bw, ToBf16Bits(w)) ||
        !Upload(reporter, bl, labels) || !reporter.Ok(bdx.Allocate(xs.size() * 4), "cudaMalloc") ||
        !Upload(reporter, bloss, std::vector<double>{0.0})) {
      return;
    }
    if (!reporter.Ok(duo::LaunchDistillationLoss(bxs.As<float>(), bxt.As<float>(), bw.As<__nv_bfloat16>(), bl.As<uint8_t>(), n,
                                                 tokens, hidden, eps, bdx.As<float>(), bloss.As<double>(), nullptr),
                     "LaunchDistillationLoss")) {
      return;
    }
    std::vector<float> got(xs.size());
    std::vector<double> got_loss(1);
    if (!Download(reporter, bdx, got) || !Download(reporter, bloss, got_loss)) return;
    const double e = ScaledError(got, expected);
    const double e_loss = std::abs(got_loss[0] - loss) / loss;
    reporter.Case("TrainingOps", "distillation_loss", e < 1e-4 && e_loss < 1e-5,
                  Fields().Number("gradient", e).Number("loss", e_loss));
  }
}

/** One training step of a random model of Llama-3-8B's shape, timed, with the FLOPs it does. */
void BenchmarkStep(Reporter& reporter, int tokens, duo::ActivationMemory activations) {
  const duo::ModelShape shape = duo::checks::Llama3_8bShape();
  duo::GateTrainerOptions options;
  options.max_tokens = tokens;
  options.mask = TrainingMask{0, 128, 256, 128};
  options.activations = activations;
  std::unique_ptr<duo::GateTrainerModel> model;
  if (!reporter.Ok(duo::GateTrainerModel::Create(shape, options, &model)) || !reporter.Ok(model->FillRandomWeights(1))) return;
  std::vector<int32_t> ids(tokens);
  for (int t = 0; t < tokens; ++t) ids[t] = (t * 7919) % shape.vocab;
  const int half = shape.head_dim / 2;
  std::vector<float> cos(static_cast<std::size_t>(tokens) * half), sin(cos.size());
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < half; ++i) {
      const double angle = t * std::pow(500000.0, -2.0 * i / shape.head_dim);
      cos[t * half + i] = static_cast<float>(std::cos(angle));
      sin[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }
  std::vector<int32_t> labels;
  for (int t = tokens - 400; t < tokens; ++t) labels.push_back(t);
  std::vector<float> gates(shape.num_layers * shape.num_kv_heads, 0.7f);
  std::vector<double> gradient(gates.size());
  double loss = 0;
  duo::GateTrainerTimings timings;
  for (int warm = 0; warm < 1; ++warm) {
    if (!reporter.Ok(model->Step(ids.data(), tokens, cos.data(), sin.data(), labels.data(), static_cast<int>(labels.size()),
                                 gates.data(), &loss, gradient.data(), &timings))) {
      return;
    }
  }
  float total = 1e30f;
  duo::GateTrainerTimings best;
  for (int run = 0; run < 3; ++run) {
    if (!reporter.Ok(model->Step(ids.data(), tokens, cos.data(), sin.data(), labels.data(), static_cast<int>(labels.size()),
                                 gates.data(), &loss, gradient.data(), &timings))) {
      return;
    }
    const float ms = timings.teacher_ms + timings.student_ms + timings.backward_ms;
    if (ms < total) {
      total = ms;
      best = timings;
    }
  }
  // FLOPs: linear layers 2 * params per token per pass; passes: teacher, student, recompute (all but
  // down_proj), backward input gradients (all four); attention: the teacher's causal full
  // attention (2 T^2 d Hq per layer: QK and PV over half the matrix) plus the streaming heads'.
  const double t = tokens;
  const double h = shape.hidden, qkv = (shape.num_q_heads + 2.0 * shape.num_kv_heads) * shape.head_dim,
               o = shape.num_q_heads * shape.head_dim, m = shape.intermediate;
  const double per_token = 2 * (h * qkv + o * h + 2 * m * h + m * h);
  // The model's work: teacher and student forwards, the backward pass's input gradients (all four
  // projections); the recompute adds o_proj, or o_proj, q|k|v and gate|up without stored activations.
  const double recompute = model->stores_activations() ? 2 * o * h : 2 * (h * qkv + o * h + 2 * m * h);
  const double linear = shape.num_layers * t * (3 * per_token);
  const double recomputed = shape.num_layers * t * recompute;
  const double full_attention = shape.num_layers * 2.0 * t * t * shape.head_dim * shape.num_q_heads;
  const double window = 128 + 256;
  // Per query head and visible key: 2 flops per channel for each of 11 products (QK and PV in the
  // forward and again in the recompute; QK, dP, dQ for dQ; K Q^T, V dO^T, dV, dK for dK/dV).
  const double streaming = shape.num_layers * t * window * shape.head_dim * shape.num_q_heads * 2 * 11;
  const double flops = linear + full_attention + streaming;  // recompute not counted: overhead
  const duo::GateTrainerMemory memory = model->Memory();
  reporter.Timing("GateTrainerStep",
                  "llama3-8b_T" + std::to_string(tokens) + (model->stores_activations() ? "_stored" : "_recomputed"),
                  Fields()
                      .Number("tokens", tokens)
                      .Bool("stores_activations", model->stores_activations())
                      .Number("recompute_tflop", recomputed / 1e12)
                      .Number("step_s", total / 1e3)
                      .Number("teacher_s", best.teacher_ms / 1e3)
                      .Number("student_s", best.student_ms / 1e3)
                      .Number("backward_s", best.backward_ms / 1e3)
                      .Number("tflop", flops / 1e12)
                      .Number("tflops_per_s", flops / (total / 1e3) / 1e12)
                      .Number("loss", loss)
                      .Number("gradient0", gradient[0])
                      .Number("checkpoint_gib", memory.checkpoint_bytes / 1073741824.0)
                      .Number("scratch_gib", memory.scratch_bytes / 1073741824.0)
                      .Number("weight_gib", memory.weight_bytes / 1073741824.0));
}

}  // namespace

DUO_CHECK(TrainingAttention) {
  const TrainingMask token_small{0, 4, 8, 128};
  const TrainingMask token_mid{0, 16, 70, 128};
  const TrainingMask block_small{1, 4, 8, 4};
  const TrainingMask block_original{1, 128, 256, 128};
  const AttentionCase cases[] = {
      {37, 4, 2, 16, token_small},   {100, 4, 2, 16, block_small},  {130, 4, 4, 32, token_mid},
      {300, 8, 2, 32, token_small},  {200, 4, 1, 64, block_small},  {333, 8, 2, 64, token_mid},
      {300, 4, 2, 128, token_mid},   {700, 4, 1, 128, block_original}, {1, 2, 1, 64, token_small},
  };
  for (const AttentionCase& c : cases) CheckAttention(reporter, c);
}

DUO_CHECK(TrainingOps) { CheckOps(reporter); }

/** The step's pieces at 32K tokens of Llama-3-8B: its GEMMs (both forms), both attentions. */
void BenchmarkPieces(Reporter& reporter) {
  const int t = 32768;
  std::unique_ptr<duo::Gemm> gemm;
  if (!reporter.Ok(duo::Gemm::Create(&gemm))) return;
  duo::DeviceBuffer x, w, y;
  const std::size_t max_elements = static_cast<std::size_t>(t) * 28672;
  if (!reporter.Ok(x.Allocate(max_elements * 2), "cudaMalloc") || !reporter.Ok(w.Allocate(std::size_t{28672} * 14336 * 2), "cudaMalloc") ||
      !reporter.Ok(y.Allocate(max_elements * 4), "cudaMalloc")) {
    return;
  }
  cudaMemset(x.As<void>(), 0, max_elements * 2);
  cudaMemset(w.As<void>(), 0, std::size_t{28672} * 14336 * 2);
  struct Shape {
    const char* name;
    int n, k;
  };
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};
  for (const Shape& shape : shapes) {
    for (int form = 0; form < 3; ++form) {
      const char* label = form == 0 ? "tn_f32" : form == 1 ? "tn_bf16" : "nn_f32";
      // The backward's NN GEMM of this layer maps dy [t, n] to dx [t, k].
      const int n = form == 2 ? shape.k : shape.n;
      const int k = form == 2 ? shape.n : shape.k;
      const auto launch = [&]() -> cudaError_t {
        const duo::Status status =
            form == 2 ? gemm->RunNN(x.As<__nv_bfloat16>(), w.As<__nv_bfloat16>(), y.As<void>(), duo::GemmOutput::kF32, t, n, k, nullptr)
                      : gemm->Run(x.As<__nv_bfloat16>(), w.As<__nv_bfloat16>(), y.As<void>(),
                                  form == 0 ? duo::GemmOutput::kF32 : duo::GemmOutput::kBf16, t, n, k, nullptr);
        return status.ok() ? cudaSuccess : cudaErrorUnknown;
      };
      const double ms = MedianMilliseconds(launch, 5, 2);
      const double flop = 2.0 * t * n * k;
      reporter.Timing("TrainingPieces", std::string("gemm_") + shape.name + "_" + label,
                      Fields().Number("ms", ms).Number("tflops_per_s", flop / (ms / 1e3) / 1e12));
    }
  }
  // Attention: 32 query heads, 8 KV heads, d 128, sink 128 and recent 256 (token mask).
  const int hq = 32, hkv = 8, d = 128;
  const std::size_t stride = static_cast<std::size_t>(hq + 2 * hkv) * d;
  duo::DeviceBuffer qkv, out, lse, dout, delta, dq, dk, dv, items;
  const TrainingMask mask{0, 128, 256, 128};
  const std::vector<duo::TrainingAttentionWorkItem> work = duo::TrainingAttentionWorkItems(mask, t);
  if (!reporter.Ok(qkv.Allocate(t * stride * 2), "cudaMalloc") || !reporter.Ok(out.Allocate(std::size_t{t} * hq * d * 2), "cudaMalloc") ||
      !reporter.Ok(lse.Allocate(std::size_t{t} * hq * 4), "cudaMalloc") || !reporter.Ok(dout.Allocate(std::size_t{t} * hq * d * 2), "cudaMalloc") ||
      !reporter.Ok(delta.Allocate(std::size_t{t} * hq * 4), "cudaMalloc") || !reporter.Ok(dq.Allocate(std::size_t{t} * hq * d * 4), "cudaMalloc") ||
      !reporter.Ok(dk.Allocate(std::size_t{t} * hkv * d * 4), "cudaMalloc") || !reporter.Ok(dv.Allocate(std::size_t{t} * hkv * d * 4), "cudaMalloc") ||
      !Upload(reporter, items, work)) {
    return;
  }
  const std::vector<uint16_t> random = ToBf16Bits(RandomFloats(t * stride, 3, 1.0f));
  cudaMemcpy(qkv.As<void>(), random.data(), random.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dout.As<void>(), random.data(), std::size_t{t} * hq * d * 2, cudaMemcpyHostToDevice);
  duo::TrainingAttentionArgs args{};
  args.qkv = qkv.As<__nv_bfloat16>();
  args.tokens = t;
  args.num_q_heads = hq;
  args.num_kv_heads = hkv;
  args.head_dim = d;
  args.scale = 1.0f / std::sqrt(128.0f);
  args.mask = mask;
  const double window_flop = 4.0 * t * hq * d * (128 + 256);
  const double forward_ms = MedianMilliseconds(
      [&] { return duo::LaunchTrainingAttentionForward(args, out.As<__nv_bfloat16>(), lse.As<float>(), nullptr); }, 5, 2);
  reporter.Timing("TrainingPieces", "streaming_attention_forward",
                  Fields().Number("ms", forward_ms).Number("tflops_per_s", window_flop / (forward_ms / 1e3) / 1e12));
  const double backward_ms = MedianMilliseconds(
      [&] {
        return duo::LaunchTrainingAttentionBackward(args, out.As<__nv_bfloat16>(), lse.As<float>(), dout.As<__nv_bfloat16>(),
                                                    delta.As<float>(), dq.As<float>(), dk.As<float>(), dv.As<float>(),
                                                    items.As<duo::TrainingAttentionWorkItem>(), static_cast<int>(work.size()),
                                                    nullptr);
      },
      5, 2);
  reporter.Timing("TrainingPieces", "streaming_attention_backward",
                  Fields().Number("ms", backward_ms).Number("tflops_per_s", 3.5 * window_flop / (backward_ms / 1e3) / 1e12));
  duo::PrefillAttentionArgs full{};
  full.qkv = qkv.As<__nv_bfloat16>();
  full.tokens = t;
  full.num_q_heads = hq;
  full.num_kv_heads = hkv;
  full.num_retrieval_kv_heads = hkv;
  full.head_dim = d;
  full.scale = args.scale;
  full.out = out.As<__nv_bfloat16>();
  const double full_ms = MedianMilliseconds([&] { return duo::LaunchPrefillAttention(full, nullptr); }, 3, 1);
  const double full_flop = 2.0 * t * static_cast<double>(t) * d * hq;
  reporter.Timing("TrainingPieces", "full_attention_forward",
                  Fields().Number("ms", full_ms).Number("tflops_per_s", full_flop / (full_ms / 1e3) / 1e12));
}

DUO_CHECK(GateTrainerStep) {
  if (!reporter.Benchmarks()) return;
  BenchmarkPieces(reporter);
  BenchmarkStep(reporter, 8192, duo::ActivationMemory::kRecompute);
  BenchmarkStep(reporter, 8192, duo::ActivationMemory::kAuto);
  BenchmarkStep(reporter, 32768, duo::ActivationMemory::kAuto);
  // What an 80 GB GPU gets at 32K: stored activations do not fit there, so every layer recomputes.
  BenchmarkStep(reporter, 32768, duo::ActivationMemory::kRecompute);
}
