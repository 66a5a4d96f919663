// Prefill attention (retrieval + streaming heads, one launch) against an fp32/fp64 CPU reference on
// bf16-rounded random data, and its throughput on Llama-3-8B shapes.
//
// Data: q and k uniform in [-2.5, 2.5), v in [-1, 1): with scale 1/sqrt(d) the logits have a
// standard deviation of about 2, so the softmax is neither flat nor one-hot. Cache rows beyond the
// valid past are NaN and the output starts as NaN, so a kernel that reads a row it must not, or
// leaves a row unwritten, fails the finiteness test.
//
// Every case runs the public launcher ("default") and, for head dims with several kernel
// configurations (d = 128), every variant (LaunchPrefillAttentionVariant) against one reference;
// the case name ends in the variant's name. A variant that needs more shared memory than the GPU
// has is recorded as a passing case with skipped = true (never on an H100).
//
// Tolerance: max |out - ref| <= 2e-2 * max |ref|. The kernel's own error is the bf16 rounding of P
// (relative 2^-9 per weight, averaging out over the keys) and of the output (2^-9 relative), both
// far inside that bound; a wrong mask, a missing key block or a mis-scaled row is far outside it.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/fill_random.cuh"
#include "kernels/prefill_attention.cuh"

namespace {

using namespace duo::checks;

struct PrefillCase {
  int hq, hkv, fr, d;
  int tokens;
  int retrieval_len;
  int streaming_len;
  int streaming_slots;  // S + R
  float scale;          // 0: 1/sqrt(d)
};

std::string CaseName(const PrefillCase& c) {
  return "hq" + std::to_string(c.hq) + "_hkv" + std::to_string(c.hkv) + "_fr" + std::to_string(c.fr) + "_d" +
         std::to_string(c.d) + "_T" + std::to_string(c.tokens) + "_r" + std::to_string(c.retrieval_len) + "_s" +
         std::to_string(c.streaming_len);
}

/** Random values scaled, bf16-rounded, with rows [valid_rows, rows) of `row_elems` set to NaN. */
std::vector<float> CacheData(int rows, int valid_rows, int row_elems, uint64_t seed, float scale) {
  std::vector<float> data = RandomFloats(static_cast<std::size_t>(rows) * row_elems, seed, scale);
  RoundToBf16(data);
  for (std::size_t i = static_cast<std::size_t>(valid_rows) * row_elems; i < data.size(); ++i) data[i] = NAN;
  return data;
}

bool Upload(Reporter& reporter, duo::DeviceBuffer& buffer, const std::vector<float>& values) {
  const std::vector<uint16_t> bits = ToBf16Bits(values);
  if (!reporter.Ok(buffer.Allocate(bits.size() * 2), "cudaMalloc")) return false;
  return reporter.Ok(cudaMemcpy(buffer.As<void>(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice),
                     "cudaMemcpy(upload)");
}

void RunCase(Reporter& reporter, const PrefillCase& c, uint64_t seed) {
  const std::string name = CaseName(c);
  const int group = c.hq / c.hkv;
  const int fs = c.hkv - c.fr;
  const int d = c.d;
  const int T = c.tokens;
  const int stride = (c.hq + 2 * c.hkv) * d;
  const float scale = c.scale > 0 ? c.scale : 1.0f / std::sqrt(static_cast<float>(d));

  std::vector<float> qkv = RandomFloats(static_cast<std::size_t>(T) * stride, seed, 1.0f);
  for (int t = 0; t < T; ++t)
    for (int e = 0; e < (c.hq + c.hkv) * d; ++e) qkv[static_cast<std::size_t>(t) * stride + e] *= 2.5f;  // q and k
  RoundToBf16(qkv);
  const int r_rows = c.retrieval_len + 3;  // capacity beyond the past, NaN-filled
  const int s_rows = std::max(c.streaming_slots, c.streaming_len);
  std::vector<float> rk, rv, sk, sv;
  if (c.fr > 0) {
    rk = CacheData(r_rows, c.retrieval_len, c.fr * d, seed + 1, 2.5f);
    rv = CacheData(r_rows, c.retrieval_len, c.fr * d, seed + 2, 1.0f);
  }
  if (fs > 0) {
    sk = CacheData(s_rows, c.streaming_len, fs * d, seed + 3, 2.5f);
    sv = CacheData(s_rows, c.streaming_len, fs * d, seed + 4, 1.0f);
  }

  duo::DeviceBuffer d_qkv, d_rk, d_rv, d_sk, d_sv, d_out;
  if (!Upload(reporter, d_qkv, qkv)) return;
  if (c.fr > 0 && (!Upload(reporter, d_rk, rk) || !Upload(reporter, d_rv, rv))) return;
  if (fs > 0 && (!Upload(reporter, d_sk, sk) || !Upload(reporter, d_sv, sv))) return;
  const std::size_t out_elems = static_cast<std::size_t>(T) * c.hq * d;
  if (!reporter.Ok(d_out.Allocate(out_elems * 2), "cudaMalloc(out)")) return;

  duo::PrefillAttentionArgs args{};
  args.qkv = d_qkv.As<__nv_bfloat16>();
  args.tokens = T;
  args.retrieval_k = c.fr > 0 ? d_rk.As<__nv_bfloat16>() : nullptr;
  args.retrieval_v = c.fr > 0 ? d_rv.As<__nv_bfloat16>() : nullptr;
  args.retrieval_len = c.retrieval_len;
  args.streaming_k = fs > 0 ? d_sk.As<__nv_bfloat16>() : nullptr;
  args.streaming_v = fs > 0 ? d_sv.As<__nv_bfloat16>() : nullptr;
  args.streaming_len = c.streaming_len;
  args.num_q_heads = c.hq;
  args.num_kv_heads = c.hkv;
  args.num_retrieval_kv_heads = c.fr;
  args.head_dim = d;
  args.scale = scale;
  args.out = d_out.As<__nv_bfloat16>();

  // Reference (fp32 dots like the kernel's fp32 accumulation, fp64 softmax) on a subset of tokens
  // when T is large (every warp and row residue is still hit); NaN marks the tokens not checked.
  std::vector<double> ref(out_elems, NAN);
  double ref_max = 0;
  std::vector<double> logits, acc;
  for (int i = 0; i < T; ++i) {
    if (!(T <= 130 || i % 7 == 0 || i >= T - 3)) continue;
    for (int h = 0; h < c.hq; ++h) {
      const int kvh = h / group;
      const bool retrieval = kvh < c.fr;
      const int past = retrieval ? c.retrieval_len : c.streaming_len;
      const int heads = retrieval ? c.fr : fs;
      const int local = retrieval ? kvh : kvh - c.fr;
      const std::vector<float>& ck = retrieval ? rk : sk;
      const std::vector<float>& cv = retrieval ? rv : sv;
      const float* q = &qkv[static_cast<std::size_t>(i) * stride + static_cast<std::size_t>(h) * d];
      auto key_row = [&](int j) -> const float* {
        if (j < past) return &ck[(static_cast<std::size_t>(j) * heads + local) * d];
        return &qkv[static_cast<std::size_t>(j - past) * stride + static_cast<std::size_t>(c.hq + kvh) * d];
      };
      auto value_row = [&](int j) -> const float* {
        if (j < past) return &cv[(static_cast<std::size_t>(j) * heads + local) * d];
        return &qkv[static_cast<std::size_t>(j - past) * stride + static_cast<std::size_t>(c.hq + c.hkv + kvh) * d];
      };
      const int keys = past + i + 1;
      logits.assign(keys, 0.0);
      double m = -INFINITY;
      for (int j = 0; j < keys; ++j) {
        const float* k = key_row(j);
        float dot = 0;
        for (int e = 0; e < d; ++e) dot += q[e] * k[e];
        logits[j] = static_cast<double>(dot) * scale;
        m = std::max(m, logits[j]);
      }
      double sum = 0;
      for (int j = 0; j < keys; ++j) {
        logits[j] = std::exp(logits[j] - m);
        sum += logits[j];
      }
      acc.assign(d, 0.0);
      for (int j = 0; j < keys; ++j) {
        const float* v = value_row(j);
        const double w = logits[j];
        for (int e = 0; e < d; ++e) acc[e] += w * v[e];
      }
      double* dst = &ref[static_cast<std::size_t>(i) * c.hq * d + static_cast<std::size_t>(h) * d];
      for (int e = 0; e < d; ++e) {
        dst[e] = acc[e] / sum;
        ref_max = std::max(ref_max, std::fabs(dst[e]));
      }
    }
  }
  const double tolerance = 2e-2 * ref_max;

  // variant -1: the public launcher; then every variant where there is more than one.
  const int variants = duo::PrefillAttentionVariantCount(d);
  for (int variant = -1; variant < (variants > 1 ? variants : 0); ++variant) {
    const std::string label = variant < 0 ? "default" : duo::PrefillAttentionVariantName(d, variant);
    const std::string case_name = name + "_" + label;
    if (!reporter.Ok(cudaMemset(d_out.As<void>(), 0xFF, out_elems * 2), "cudaMemset(out)")) return;  // NaN
    const cudaError_t launched = variant < 0 ? duo::LaunchPrefillAttention(args, nullptr)
                                             : duo::LaunchPrefillAttentionVariant(args, variant, nullptr);
    if (launched == cudaErrorNotSupported) {
      reporter.Case("PrefillAttention", case_name, true, Fields().Bool("skipped", true).Text("why", "shared memory"));
      continue;
    }
    if (!reporter.Ok(launched, "LaunchPrefillAttention(" + label + ")")) return;
    std::vector<uint16_t> out_bits(out_elems);
    if (!reporter.Ok(cudaMemcpy(out_bits.data(), d_out.As<void>(), out_elems * 2, cudaMemcpyDeviceToHost),
                     "cudaMemcpy(out)"))
      return;
    const std::vector<float> out = FromBf16Bits(out_bits);

    // Every output must be written and finite.
    std::size_t nonfinite = 0;
    for (float v : out) nonfinite += std::isfinite(v) ? 0 : 1;
    double max_abs = 0, max_rel = 0;
    for (std::size_t k = 0; k < out_elems; ++k) {
      if (std::isnan(ref[k]) || !std::isfinite(out[k])) continue;
      const double err = std::fabs(static_cast<double>(out[k]) - ref[k]);
      max_abs = std::max(max_abs, err);
      max_rel = std::max(max_rel, err / (std::fabs(ref[k]) + 1e-2));
    }
    reporter.Case("PrefillAttention", case_name, nonfinite == 0 && max_abs <= tolerance,
                  Fields()
                      .Number("max_abs", max_abs)
                      .Number("max_rel", max_rel)
                      .Number("ref_max_abs", ref_max)
                      .Number("tolerance", tolerance)
                      .Number("nonfinite", static_cast<double>(nonfinite)));
  }
}

// ---- benchmarks ---------------------------------------------------------------------------------

bool Fill(Reporter& reporter, duo::DeviceBuffer& buffer, std::size_t count, uint64_t seed, float scale) {
  if (!reporter.Ok(buffer.Allocate(count * 2), "cudaMalloc(bench)")) return false;
  return reporter.Ok(duo::LaunchFillRandomBf16(buffer.As<__nv_bfloat16>(), count, seed, scale, 0.0f, nullptr),
                     "LaunchFillRandomBf16");
}

void RunBenchmarks(Reporter& reporter) {
  constexpr int kHq = 32, kHkv = 8, kD = 128, kSlots = 64 + 256, kContext = 131072, kMaxT = 32768;
  constexpr double kPeak = 989e12;  // H100 SXM dense bf16
  const std::size_t stride = static_cast<std::size_t>(kHq + 2 * kHkv) * kD;
  duo::DeviceBuffer qkv, rk, rv, sk, sv, out;
  if (!Fill(reporter, qkv, kMaxT * stride, 101, 2.0f) ||
      !Fill(reporter, rk, static_cast<std::size_t>(kContext) * kHkv * kD, 102, 2.0f) ||
      !Fill(reporter, rv, static_cast<std::size_t>(kContext) * kHkv * kD, 103, 1.0f) ||
      !Fill(reporter, sk, static_cast<std::size_t>(kSlots) * kHkv * kD, 104, 2.0f) ||
      !Fill(reporter, sv, static_cast<std::size_t>(kSlots) * kHkv * kD, 105, 1.0f) ||
      !reporter.Ok(out.Allocate(static_cast<std::size_t>(kMaxT) * kHq * kD * 2), "cudaMalloc(out)"))
    return;

  auto make_args = [&](int tokens, int fr, int retrieval_len, int streaming_len) {
    duo::PrefillAttentionArgs a{};
    a.qkv = qkv.As<__nv_bfloat16>();
    a.tokens = tokens;
    a.retrieval_k = rk.As<__nv_bfloat16>();
    a.retrieval_v = rv.As<__nv_bfloat16>();
    a.retrieval_len = retrieval_len;
    a.streaming_k = sk.As<__nv_bfloat16>();
    a.streaming_v = sv.As<__nv_bfloat16>();
    a.streaming_len = streaming_len;
    a.num_q_heads = kHq;
    a.num_kv_heads = kHkv;
    a.num_retrieval_kv_heads = fr;
    a.head_dim = kD;
    a.scale = 1.0f / std::sqrt(static_cast<float>(kD));
    a.out = out.As<__nv_bfloat16>();
    return a;
  };
  // FLOPs: 2 matmuls x 2 FLOPs per multiply-add, over the (query, key) pairs actually visible.
  auto flops_of = [&](int tokens, int fr, int retrieval_len, int streaming_len) {
    const int group = kHq / kHkv;
    const double causal = static_cast<double>(tokens) * (tokens + 1) / 2.0;
    const double pairs = fr * group * (static_cast<double>(tokens) * retrieval_len + causal) +
                         (kHkv - fr) * group * (static_cast<double>(tokens) * streaming_len + causal);
    return 4.0 * kD * pairs;
  };
  // Every d = 128 variant on every shape, so one device run shows which configuration wins; the
  // timing name ends in the variant's name and `default` marks the one LaunchPrefillAttention uses.
  const int variants = duo::PrefillAttentionVariantCount(kD);
  const int default_variant = duo::PrefillAttentionDefaultVariant(kD);
  for (int variant = 0; variant < variants; ++variant) {
    const std::string label = duo::PrefillAttentionVariantName(kD, variant);
    auto time_case = [&](const std::string& name, const duo::PrefillAttentionArgs& a, double flops, int reps) {
      const double ms =
          MedianMilliseconds([&] { return duo::LaunchPrefillAttentionVariant(a, variant, nullptr); }, reps, 2);
      const double tflops = flops / (ms * 1e-3) / 1e12;
      reporter.Timing("PrefillAttention", name + "/" + label,
                      Fields()
                          .Text("variant", label)
                          .Bool("default", variant == default_variant)
                          .Number("ms", ms)
                          .Number("flops", flops)
                          .Number("tflops", tflops)
                          .Number("floor_ms", flops / kPeak * 1e3)
                          .Number("ratio_to_peak", tflops * 1e12 / kPeak));
      return ms;
    };
    // A variant this GPU cannot run (shared memory) is named once and skipped.
    const cudaError_t probe = duo::LaunchPrefillAttentionVariant(make_args(1, kHkv, 0, 0), variant, nullptr);
    if (probe == cudaErrorNotSupported) {
      reporter.Timing("PrefillAttention", "skipped/" + label, Fields().Text("variant", label).Bool("skipped", true));
      continue;
    }
    if (!reporter.Ok(probe, "LaunchPrefillAttentionVariant(" + label + ")")) return;

    // (a) causal self-attention of a first chunk, all heads retrieval (full attention).
    for (int tokens : {4096, 16384}) {
      const auto a = make_args(tokens, kHkv, 0, 0);
      time_case("causal_T" + std::to_string(tokens) + "_fr8", a, flops_of(tokens, kHkv, 0, 0), 20);
    }
    // (b) the last chunk of a 128K prompt: full (Fr = 8) vs 50% retrieval heads (Fr = 4, S 64, R 256).
    for (int tokens : {4096, 16384, 32768}) {
      const int past = kContext - tokens;
      const int streaming_len = std::min(past, kSlots);
      const int reps = tokens >= 16384 ? 5 : 10;
      const double full_ms = time_case("chunk_T" + std::to_string(tokens) + "_c" + std::to_string(past) + "_fr8",
                                       make_args(tokens, kHkv, past, streaming_len),
                                       flops_of(tokens, kHkv, past, streaming_len), reps);
      const double half_ms = time_case("chunk_T" + std::to_string(tokens) + "_c" + std::to_string(past) + "_fr4",
                                       make_args(tokens, kHkv / 2, past, streaming_len),
                                       flops_of(tokens, kHkv / 2, past, streaming_len), reps);
      reporter.Timing(
          "PrefillAttention", "chunk_T" + std::to_string(tokens) + "_speedup_fr4_over_fr8/" + label,
          Fields().Text("variant", label).Number("full_ms", full_ms).Number("half_ms", half_ms).Number("speedup",
                                                                                                      full_ms / half_ms));
    }
  }
}

}  // namespace

DUO_CHECK(PrefillAttention) {
  uint64_t seed = 1000;
  // Toy model: Hq 8, Hkv 4, d 32, streaming S 16 + R 64.
  for (int fr : {0, 2, 4})
    for (int tokens : {1, 7, 64, 200})
      for (int past : {0, 33, 300})
        RunCase(reporter, PrefillCase{8, 4, fr, 32, tokens, past, std::min(past, 80), 80, 0.0f}, seed++);
  // Llama-3-8B shape: Hq 32, Hkv 8, d 128, streaming S 64 + R 256.
  const PrefillCase llama[] = {
      {32, 8, 8, 128, 1, 1000, 320, 320, 0.0f},   {32, 8, 8, 128, 512, 0, 0, 320, 0.0f},
      {32, 8, 8, 128, 129, 1000, 320, 320, 0.0f}, {32, 8, 4, 128, 129, 1000, 320, 320, 0.0f},
      {32, 8, 4, 128, 512, 0, 0, 320, 0.0f},      {32, 8, 4, 128, 1, 1000, 320, 320, 0.0f},
      {32, 8, 4, 128, 129, 400, 320, 320, 0.0f},  {32, 8, 4, 128, 129, 0, 320, 320, 0.0f},
      {32, 8, 0, 128, 129, 1000, 320, 320, 0.0f}, {32, 8, 0, 128, 512, 0, 320, 320, 0.0f},
  };
  for (const PrefillCase& c : llama) RunCase(reporter, c, seed++);
  // d = 128 beyond the Llama group of 4, for the variants with 32 rows per warp and 256 rows per
  // CTA: groups 1, 2, 3, 5, 7, 8 (3, 5, 7 do not divide 16, 32, 128 or 256), Hkv 1 with the
  // streaming or the retrieval group empty, pasts that are no multiple of 32, 48, 64 or 128,
  // several 256-row blocks with the diagonal crossing key blocks, a non-default scale.
  const PrefillCase d128[] = {
      {8, 8, 4, 128, 77, 130, 45, 320, 0.0f},  {4, 2, 2, 128, 300, 47, 0, 64, 0.0f},
      {6, 2, 1, 128, 100, 150, 80, 80, 0.05f}, {10, 2, 1, 128, 140, 61, 17, 64, 0.0f},
      {7, 1, 1, 128, 40, 33, 0, 0, 0.0f},      {8, 1, 1, 128, 50, 70, 0, 0, 0.0f},
      {8, 1, 0, 128, 45, 0, 33, 64, 0.0f},     {16, 2, 1, 128, 97, 0, 0, 64, 0.0f},
  };
  for (const PrefillCase& c : d128) RunCase(reporter, c, seed++);
  // d = 64 with a group of 3 (does not divide the 128-row block) and a non-default scale.
  RunCase(reporter, PrefillCase{6, 2, 1, 64, 100, 150, 80, 80, 0.1f}, seed++);
  // d = 16, the golden-fixture models: Hq 4 with Hkv 2, 1, 4; Fr none, some, all; streaming S 4 + R 8.
  struct Fixture {
    int hkv;
    int frs[3];
    int num_frs;
  };
  const Fixture fixtures[] = {{2, {0, 1, 2}, 3}, {1, {0, 1, 0}, 2}, {4, {0, 2, 4}, 3}};
  for (const Fixture& f : fixtures)
    for (int k = 0; k < f.num_frs; ++k)
      for (int tokens : {1, 5, 24})
        for (int past : {0, 7, 30})
          RunCase(reporter, PrefillCase{4, f.hkv, f.frs[k], 16, tokens, past, std::min(past, 12), 12, 0.0f}, seed++);
  // d = 16 beyond one key block (64) and one row block (64 rows at d = 16): several blocks, the
  // diagonal across a block boundary, groups of 1..5 (3 and 5 do not divide 64), a non-default scale.
  const PrefillCase d16[] = {
      {4, 2, 1, 16, 70, 100, 12, 12, 0.0f}, {4, 1, 1, 16, 130, 0, 0, 12, 0.0f},  {4, 4, 2, 16, 33, 200, 12, 12, 0.0f},
      {6, 2, 1, 16, 45, 61, 12, 12, 0.3f},  {5, 1, 0, 16, 40, 90, 12, 12, 0.0f},  {4, 4, 4, 16, 200, 64, 12, 12, 0.0f},
      {4, 4, 0, 16, 64, 63, 12, 12, 0.0f},  {2, 2, 1, 16, 17, 127, 12, 12, 0.0f},
  };
  for (const PrefillCase& c : d16) RunCase(reporter, c, seed++);

  if (reporter.Benchmarks()) RunBenchmarks(reporter);
}
