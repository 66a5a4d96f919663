// The KV4 kernels against quant_reference.h (core's kv4-codec.ts rules):
//   Kv4Quantize  codes, scales and zeros bit for bit, on random groups and on edge groups (constant,
//                ±0 minima, values on code boundaries), d = 32 .. 256, the Llama-3-8B shape;
//   Kv4Append    cache placement of staging groups over sequences of calls (bit for bit);
//   Kv4Attention decode and prefill-chunk attention on the codes against an fp64 reference over
//                the codec's dequantized values, within a stated tolerance; cache rows past the
//                valid lengths hold NaN scales (any read of them shows). With --bench: one
//                Llama-3-8B layer's decode attention at 8K .. 1M tokens of past against the floor
//                (KV4 bytes read / copy bandwidth), and a 4K-token prefill chunk.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "checks/llama3_8b_shape.h"
#include "checks/quant_reference.h"
#include "device_buffer.h"
#include "kernels/kv4_attention.cuh"
#include "kernels/kv4_cache.cuh"

namespace {

using namespace duo::checks;
using duo::Kv4Cache;
using duo::Kv4ConstCache;

constexpr uint32_t kNanParams = 0x7E007E00u;  // fp16 NaN scale and zero: rows that must never be read
constexpr std::size_t kGuardBytes = 4096;
constexpr unsigned char kGuardByte = 0xA5;

int DeviceSms(Reporter& reporter) {
  int device = 0;
  int sms = 0;
  if (!reporter.Ok(cudaGetDevice(&device), "cudaGetDevice")) return 0;
  if (!reporter.Ok(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute"))
    return 0;
  return sms;
}

/** A KV4 cache on the device: codes and params of `groups` groups. */
struct DeviceKv4 {
  duo::DeviceBuffer codes, params;
  int groups = 0;
  int d = 0;
  bool Allocate(Reporter& reporter, int group_count, int head_dim) {
    groups = group_count;
    d = head_dim;
    return reporter.Ok(codes.Allocate(static_cast<std::size_t>(groups) * d / 2 + 16), "cudaMalloc(codes)") &&
           reporter.Ok(params.Allocate(static_cast<std::size_t>(groups) * 4 + 16), "cudaMalloc(params)");
  }
  Kv4Cache View() const { return {codes.As<uint8_t>(), params.As<__half2>()}; }
  Kv4ConstCache ConstView() const { return {codes.As<uint8_t>(), params.As<__half2>()}; }
  bool Upload(Reporter& reporter, const HostKv4& host) {
    return reporter.Ok(cudaMemcpy(codes.As<void>(), host.codes.data(), host.codes.size(), cudaMemcpyHostToDevice),
                       "cudaMemcpy(codes)") &&
           reporter.Ok(cudaMemcpy(params.As<void>(), host.params.data(), host.params.size() * 4, cudaMemcpyHostToDevice),
                       "cudaMemcpy(params)");
  }
  bool Download(Reporter& reporter, HostKv4* host) const {
    host->groups = groups;
    host->group_size = d;
    host->codes.resize(static_cast<std::size_t>(groups) * d / 2);
    host->params.resize(groups);
    return reporter.Ok(cudaMemcpy(host->codes.data(), codes.As<void>(), host->codes.size(), cudaMemcpyDeviceToHost),
                       "cudaMemcpy(codes back)") &&
           reporter.Ok(cudaMemcpy(host->params.data(), params.As<void>(), host->params.size() * 4,
                                  cudaMemcpyDeviceToHost),
                       "cudaMemcpy(params back)");
  }
};

/** Differing bytes of codes and differing params between two KV4 groups sets. */
std::size_t Kv4Differences(const HostKv4& a, const HostKv4& b) {
  if (a.codes.size() != b.codes.size() || a.params.size() != b.params.size()) return SIZE_MAX;
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.codes.size(); ++i) n += a.codes[i] != b.codes[i];
  for (std::size_t i = 0; i < a.params.size(); ++i) n += a.params[i] != b.params[i];
  return n;
}

/** K and V of qkv ([T, (Hq + 2 Hkv) d], bf16 values) as [T * Hkv, d] float arrays. */
void SplitKv(const std::vector<float>& qkv, int tokens, int hq, int hkv, int d, std::vector<float>* k,
             std::vector<float>* v) {
  const std::size_t stride = static_cast<std::size_t>(hq + 2 * hkv) * d;
  k->resize(static_cast<std::size_t>(tokens) * hkv * d);
  v->resize(k->size());
  for (int t = 0; t < tokens; ++t) {
    std::copy_n(qkv.begin() + t * stride + static_cast<std::size_t>(hq) * d, static_cast<std::size_t>(hkv) * d,
                k->begin() + static_cast<std::size_t>(t) * hkv * d);
    std::copy_n(qkv.begin() + t * stride + static_cast<std::size_t>(hq + hkv) * d, static_cast<std::size_t>(hkv) * d,
                v->begin() + static_cast<std::size_t>(t) * hkv * d);
  }
}

/** Random qkv in bf16 values (q in [-1, 1], k in [-4, 4], v in [-1, 1]), plus edge groups when asked. */
std::vector<float> RandomQkv(int tokens, int hq, int hkv, int d, uint64_t seed, bool edges) {
  const std::size_t stride = static_cast<std::size_t>(hq + 2 * hkv) * d;
  std::vector<float> qkv(static_cast<std::size_t>(tokens) * stride);
  const std::vector<float> q = RandomFloats(qkv.size(), seed, 1.0f);
  const std::vector<float> k = RandomFloats(qkv.size(), seed + 1, 4.0f);
  const std::vector<float> v = RandomFloats(qkv.size(), seed + 2, 1.0f);
  for (std::size_t i = 0; i < qkv.size(); ++i) {
    const std::size_t column = i % stride;
    qkv[i] = column < static_cast<std::size_t>(hq) * d ? q[i] : column < static_cast<std::size_t>(hq + hkv) * d ? k[i] : v[i];
  }
  RoundToBf16(qkv);
  if (edges) {
    // Token 0's K groups: constant; a +0/-0 minimum both ways round; values exactly on x.5 code
    // boundaries of a range of 15 (scale ~1: (x - min) / scale lands near half-integers).
    auto group = [&](int t, int h, bool value) {
      return qkv.data() + t * stride + static_cast<std::size_t>(hq + (value ? hkv : 0) + h) * d;
    };
    for (int h = 0; h < hkv && tokens > 0; ++h) {
      float* g = group(0, h, false);
      for (int i = 0; i < d; ++i) {
        switch (h % 4) {
          case 0: g[i] = 0.75f; break;
          case 1: g[i] = i == 3 ? -0.0f : (i == 9 ? 0.0f : 1.0f + 0.125f * (i % 8)); break;
          case 2: g[i] = i == 2 ? 0.0f : (i == 5 ? -0.0f : 0.5f * (i % 31)); break;
          default: g[i] = static_cast<float>(i % 16) + 0.5f * ((i / 16) % 2); break;
        }
      }
      if (tokens > 1) {
        float* gv = group(1, h, true);
        for (int i = 0; i < d; ++i) gv[i] = -2.0f + 0.25f * (i % 17);
      }
    }
  }
  return qkv;
}

// ---- Kv4Quantize ------------------------------------------------------------------------------

void QuantizeCase(Reporter& reporter, const std::string& name, int tokens, int hq, int hkv, int d, uint64_t seed) {
  const std::vector<float> qkv = RandomQkv(tokens, hq, hkv, d, seed, true);
  std::vector<float> k, v;
  SplitKv(qkv, tokens, hq, hkv, d, &k, &v);
  const HostKv4 want_k = QuantizeKv4Reference(k.data(), tokens * hkv, d);
  const HostKv4 want_v = QuantizeKv4Reference(v.data(), tokens * hkv, d);
  const std::vector<uint16_t> bits = ToBf16Bits(qkv);
  duo::DeviceBuffer d_qkv;
  DeviceKv4 sk, sv;
  if (!reporter.Ok(d_qkv.Allocate(bits.size() * 2), "cudaMalloc") || !sk.Allocate(reporter, tokens * hkv, d) ||
      !sv.Allocate(reporter, tokens * hkv, d))
    return;
  cudaMemcpy(d_qkv.As<void>(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice);
  cudaMemset(sk.codes.As<void>(), 0xEE, static_cast<std::size_t>(tokens) * hkv * d / 2);
  cudaMemset(sv.codes.As<void>(), 0xEE, static_cast<std::size_t>(tokens) * hkv * d / 2);
  if (!reporter.Ok(duo::LaunchKv4Quantize(d_qkv.As<__nv_bfloat16>(), tokens, hq, hkv, d, sk.View(), sv.View(), nullptr),
                   "LaunchKv4Quantize(" + name + ")") ||
      !reporter.Ok(cudaDeviceSynchronize(), "Kv4Quantize (" + name + ")"))
    return;
  HostKv4 got_k, got_v;
  if (!sk.Download(reporter, &got_k) || !sv.Download(reporter, &got_v)) return;
  const std::size_t diff_k = Kv4Differences(got_k, want_k);
  const std::size_t diff_v = Kv4Differences(got_v, want_v);
  reporter.Case("Kv4Quantize", name, diff_k == 0 && diff_v == 0,
                Fields()
                    .Number("groups", 2.0 * tokens * hkv)
                    .Number("differing_k", static_cast<double>(diff_k))
                    .Number("differing_v", static_cast<double>(diff_v)));
}

// ---- Kv4Append --------------------------------------------------------------------------------

void AppendSequence(Reporter& reporter, const std::string& name, int hkv, int fr, int d, int sink, int recent,
                    const std::vector<int>& calls, uint64_t seed) {
  const int fs = hkv - fr;
  const int capacity = 0;
  int total = 0;
  for (int t : calls) total += t;
  const int rcap = std::max(1, total + capacity);
  const int window = std::max(1, sink + recent);
  // Caches start as random bytes, so stray writes show; the host copies start identical.
  auto random_kv4 = [&](int groups, uint64_t s) {
    HostKv4 h;
    h.groups = groups;
    h.group_size = d;
    const std::vector<float> r = RandomFloats(static_cast<std::size_t>(groups) * (d / 2 + 4), s, 1.0f);
    h.codes.resize(static_cast<std::size_t>(groups) * d / 2);
    h.params.resize(groups);
    for (std::size_t i = 0; i < h.codes.size(); ++i) h.codes[i] = static_cast<uint8_t>(std::fabs(r[i]) * 255.0f);
    for (int g = 0; g < groups; ++g) h.params[g] = static_cast<uint32_t>(std::fabs(r[h.codes.size() + g]) * 4e9f);
    return h;
  };
  HostKv4 rk = random_kv4(rcap * std::max(fr, 1), seed), rv = random_kv4(rcap * std::max(fr, 1), seed + 1);
  HostKv4 sk = random_kv4(window * std::max(fs, 1), seed + 2), sv = random_kv4(window * std::max(fs, 1), seed + 3);
  DeviceKv4 drk, drv, dsk, dsv, stage_k, stage_v;
  int max_call = 1;
  for (int t : calls) max_call = std::max(max_call, t);
  if (!drk.Allocate(reporter, rk.groups, d) || !drv.Allocate(reporter, rv.groups, d) ||
      !dsk.Allocate(reporter, sk.groups, d) || !dsv.Allocate(reporter, sv.groups, d) ||
      !stage_k.Allocate(reporter, max_call * hkv, d) || !stage_v.Allocate(reporter, max_call * hkv, d))
    return;
  if (!drk.Upload(reporter, rk) || !drv.Upload(reporter, rv) || !dsk.Upload(reporter, sk) || !dsv.Upload(reporter, sv))
    return;
  int start = 0;
  std::size_t worst = 0;
  uint64_t call_seed = seed + 100;
  for (const int tokens : calls) {
    // Staging groups: any bytes will do (the append copies); quantized random values here.
    const std::vector<float> values = RandomFloats(static_cast<std::size_t>(tokens) * hkv * d, call_seed++, 2.0f);
    const HostKv4 stage_k_host = QuantizeKv4Reference(values.data(), tokens * hkv, d);
    const std::vector<float> values_v = RandomFloats(static_cast<std::size_t>(tokens) * hkv * d, call_seed++, 2.0f);
    const HostKv4 stage_v_host = QuantizeKv4Reference(values_v.data(), tokens * hkv, d);
    if (!stage_k.Upload(reporter, stage_k_host) || !stage_v.Upload(reporter, stage_v_host)) return;
    if (!reporter.Ok(duo::LaunchKv4Append(stage_k.ConstView(), stage_v.ConstView(), tokens, start, hkv, fr, d,
                                          drk.View(), drv.View(), dsk.View(), dsv.View(), sink, recent, nullptr),
                     "LaunchKv4Append(" + name + ")"))
      return;
    // Host: one token at a time.
    for (int t = 0; t < tokens; ++t) {
      const int p = start + t;
      for (int h = 0; h < hkv; ++h) {
        HostKv4* targets[2];
        int row;
        if (h < fr) {
          targets[0] = &rk;
          targets[1] = &rv;
          row = p * fr + h;
        } else {
          int slot;
          if (p < sink) {
            slot = p;
          } else if (recent > 0) {
            slot = sink + (p - sink) % recent;
          } else {
            continue;
          }
          targets[0] = &sk;
          targets[1] = &sv;
          row = slot * fs + (h - fr);
        }
        const HostKv4* sources[2] = {&stage_k_host, &stage_v_host};
        for (int kv = 0; kv < 2; ++kv) {
          std::copy_n(sources[kv]->codes.begin() + static_cast<std::size_t>(t * hkv + h) * d / 2, d / 2,
                      targets[kv]->codes.begin() + static_cast<std::size_t>(row) * d / 2);
          targets[kv]->params[row] = sources[kv]->params[t * hkv + h];
        }
      }
    }
    start += tokens;
    HostKv4 got[4];
    if (!drk.Download(reporter, &got[0]) || !drv.Download(reporter, &got[1]) || !dsk.Download(reporter, &got[2]) ||
        !dsv.Download(reporter, &got[3]))
      return;
    worst = std::max({worst, Kv4Differences(got[0], rk), Kv4Differences(got[1], rv), Kv4Differences(got[2], sk),
                      Kv4Differences(got[3], sv)});
  }
  reporter.Case("Kv4Append", name, worst == 0,
                Fields().Number("calls", static_cast<double>(calls.size())).Number("differing", static_cast<double>(worst)));
}

// ---- Kv4Attention -----------------------------------------------------------------------------

struct AttentionCase {
  std::string name;
  int hq, hkv, fr, d;
  int tokens;          // T
  int retrieval_len;   // c
  int streaming_len;   // <= S + R
  int num_sms;         // 0: the device's
  int workspace_sms;   // workspace sized for this many SMs (0: the launch's; -1: none)
};

/** fp64 attention of every (token, query head) over the dequantized past and chunk keys 0..t. */
std::vector<float> AttentionReference(const AttentionCase& c, const std::vector<float>& qkv, const HostKv4& rk,
                                      const HostKv4& rv, const HostKv4& sk, const HostKv4& sv, const HostKv4& ck,
                                      const HostKv4& cv) {
  const int d = c.d;
  const int g = c.hq / c.hkv;
  const int fs = c.hkv - c.fr;
  const std::size_t stride = static_cast<std::size_t>(c.hq + 2 * c.hkv) * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<float> out(static_cast<std::size_t>(c.tokens) * c.hq * d);
  // Dequantized keys and values of every group (computed once).
  auto dequant_all = [&](const HostKv4& kv, int groups) {
    std::vector<float> values(static_cast<std::size_t>(groups) * d);
    for (int i = 0; i < groups; ++i) DequantizeKv4Reference(kv, i, values.data() + static_cast<std::size_t>(i) * d);
    return values;
  };
  const std::vector<float> rkd = dequant_all(rk, c.retrieval_len * c.fr), rvd = dequant_all(rv, c.retrieval_len * c.fr);
  const std::vector<float> skd = dequant_all(sk, c.streaming_len * fs), svd = dequant_all(sv, c.streaming_len * fs);
  const std::vector<float> ckd = dequant_all(ck, c.tokens * c.hkv), cvd = dequant_all(cv, c.tokens * c.hkv);
  std::vector<double> scores, acc(d);
  for (int t = 0; t < c.tokens; ++t) {
    for (int h = 0; h < c.hq; ++h) {
      const int kv = h / g;
      const bool retrieval = kv < c.fr;
      const int past = retrieval ? c.retrieval_len : c.streaming_len;
      const int heads = retrieval ? c.fr : fs;
      const int local = retrieval ? kv : kv - c.fr;
      const float* kp = retrieval ? rkd.data() : skd.data();
      const float* vp = retrieval ? rvd.data() : svd.data();
      const float* q = qkv.data() + t * stride + static_cast<std::size_t>(h) * d;
      const int keys = past + t + 1;
      auto key = [&](int j) {
        return j < past ? kp + (static_cast<std::size_t>(j) * heads + local) * d
                        : ckd.data() + (static_cast<std::size_t>(j - past) * c.hkv + kv) * d;
      };
      auto value = [&](int j) {
        return j < past ? vp + (static_cast<std::size_t>(j) * heads + local) * d
                        : cvd.data() + (static_cast<std::size_t>(j - past) * c.hkv + kv) * d;
      };
      scores.assign(keys, 0.0);
      double max_score = -INFINITY;
      for (int j = 0; j < keys; ++j) {
        const float* kk = key(j);
        double dot = 0;
        for (int e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * kk[e];
        scores[j] = dot * scale;
        max_score = std::max(max_score, scores[j]);
      }
      double sum = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int j = 0; j < keys; ++j) {
        const double p = std::exp(scores[j] - max_score);
        sum += p;
        const float* vv = value(j);
        for (int e = 0; e < d; ++e) acc[e] += p * vv[e];
      }
      for (int e = 0; e < d; ++e) out[(static_cast<std::size_t>(t) * c.hq + h) * d + e] = static_cast<float>(acc[e] / sum);
    }
  }
  return out;
}

/** A past cache [rows, heads] quantized from random values, rows >= valid holding NaN params and 0xFF codes. */
HostKv4 PastCache(int valid, int rows, int heads, int d, uint64_t seed, float range) {
  const std::vector<float> values = RandomFloats(static_cast<std::size_t>(valid) * heads * d, seed, range);
  std::vector<float> rounded = values;
  RoundToBf16(rounded);
  HostKv4 kv = QuantizeKv4Reference(rounded.data(), valid * heads, d);
  kv.groups = rows * heads;
  kv.codes.resize(static_cast<std::size_t>(rows) * heads * d / 2, 0xFF);
  kv.params.resize(static_cast<std::size_t>(rows) * heads, kNanParams);
  return kv;
}

bool GuardIntact(Reporter& reporter, const unsigned char* device, std::size_t bytes) {
  std::vector<unsigned char> host(bytes);
  if (!reporter.Ok(cudaMemcpy(host.data(), device, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(guard)")) return false;
  return std::all_of(host.begin(), host.end(), [](unsigned char b) { return b == kGuardByte; });
}

void AttentionCaseRun(Reporter& reporter, const AttentionCase& c, int device_sms, uint64_t seed) {
  const int d = c.d;
  const int fs = c.hkv - c.fr;
  const std::vector<float> qkv = RandomQkv(c.tokens, c.hq, c.hkv, d, seed, false);
  std::vector<float> k, v;
  SplitKv(qkv, c.tokens, c.hq, c.hkv, d, &k, &v);
  const HostKv4 ck = QuantizeKv4Reference(k.data(), c.tokens * c.hkv, d);
  const HostKv4 cv = QuantizeKv4Reference(v.data(), c.tokens * c.hkv, d);
  const HostKv4 rk = PastCache(c.retrieval_len, c.retrieval_len + 3, std::max(c.fr, 1), d, seed + 10, 4.0f);
  const HostKv4 rv = PastCache(c.retrieval_len, c.retrieval_len + 3, std::max(c.fr, 1), d, seed + 11, 1.0f);
  const HostKv4 sk = PastCache(c.streaming_len, c.streaming_len + 3, std::max(fs, 1), d, seed + 12, 4.0f);
  const HostKv4 sv = PastCache(c.streaming_len, c.streaming_len + 3, std::max(fs, 1), d, seed + 13, 1.0f);

  const int sms = c.num_sms > 0 ? c.num_sms : device_sms;
  const int workspace_sms = c.workspace_sms == 0 ? sms : c.workspace_sms;
  const std::size_t workspace_bytes =
      workspace_sms < 0 ? 0 : duo::Kv4AttentionWorkspaceBytes(c.hq, c.hkv, d, workspace_sms);
  const std::size_t out_bytes = static_cast<std::size_t>(c.tokens) * c.hq * d * 2;
  const std::vector<uint16_t> qkv_bits = ToBf16Bits(qkv);

  duo::DeviceBuffer d_qkv, d_out, d_ws;
  DeviceKv4 drk, drv, dsk, dsv, dck, dcv;
  if (!reporter.Ok(d_qkv.Allocate(qkv_bits.size() * 2), "cudaMalloc") ||
      !reporter.Ok(d_out.Allocate(out_bytes + kGuardBytes), "cudaMalloc") ||
      !reporter.Ok(d_ws.Allocate(workspace_bytes + kGuardBytes), "cudaMalloc") || !drk.Allocate(reporter, rk.groups, d) ||
      !drv.Allocate(reporter, rv.groups, d) || !dsk.Allocate(reporter, sk.groups, d) ||
      !dsv.Allocate(reporter, sv.groups, d) || !dck.Allocate(reporter, ck.groups, d) ||
      !dcv.Allocate(reporter, cv.groups, d))
    return;
  cudaMemcpy(d_qkv.As<void>(), qkv_bits.data(), qkv_bits.size() * 2, cudaMemcpyHostToDevice);
  if (!drk.Upload(reporter, rk) || !drv.Upload(reporter, rv) || !dsk.Upload(reporter, sk) ||
      !dsv.Upload(reporter, sv) || !dck.Upload(reporter, ck) || !dcv.Upload(reporter, cv))
    return;
  cudaMemset(d_out.As<void>(), 0xFF, out_bytes);
  cudaMemset(d_out.As<unsigned char>() + out_bytes, kGuardByte, kGuardBytes);
  cudaMemset(d_ws.As<void>(), 0xFF, workspace_bytes);
  cudaMemset(d_ws.As<unsigned char>() + workspace_bytes, kGuardByte, kGuardBytes);

  duo::Kv4AttentionArgs args{};
  args.qkv = d_qkv.As<__nv_bfloat16>();
  args.tokens = c.tokens;
  args.retrieval_k = c.fr > 0 ? drk.ConstView() : Kv4ConstCache{};
  args.retrieval_v = c.fr > 0 ? drv.ConstView() : Kv4ConstCache{};
  args.retrieval_len = c.retrieval_len;
  args.streaming_k = fs > 0 ? dsk.ConstView() : Kv4ConstCache{};
  args.streaming_v = fs > 0 ? dsv.ConstView() : Kv4ConstCache{};
  args.streaming_len = c.streaming_len;
  args.chunk_k = dck.ConstView();
  args.chunk_v = dcv.ConstView();
  args.num_q_heads = c.hq;
  args.num_kv_heads = c.hkv;
  args.num_retrieval_kv_heads = c.fr;
  args.head_dim = d;
  args.scale = 1.0f / std::sqrt(static_cast<float>(d));
  args.out = d_out.As<__nv_bfloat16>();
  if (!reporter.Ok(duo::LaunchKv4Attention(args, workspace_bytes > 0 ? d_ws.As<void>() : nullptr, workspace_bytes,
                                           sms, nullptr),
                   "LaunchKv4Attention(" + c.name + ")") ||
      !reporter.Ok(cudaDeviceSynchronize(), "Kv4Attention (" + c.name + ")"))
    return;
  std::vector<uint16_t> out_bits(static_cast<std::size_t>(c.tokens) * c.hq * d);
  if (!reporter.Ok(cudaMemcpy(out_bits.data(), d_out.As<void>(), out_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(out)"))
    return;
  const bool guards = GuardIntact(reporter, d_out.As<unsigned char>() + out_bytes, kGuardBytes) &&
                      GuardIntact(reporter, d_ws.As<unsigned char>() + workspace_bytes, kGuardBytes);
  const std::vector<float> actual = FromBf16Bits(out_bits);
  const std::vector<float> expected = AttentionReference(c, qkv, rk, rv, sk, sv, ck, cv);
  const ErrorStats err = CompareArrays(actual, expected);
  // Tolerance: half a bf16 ulp of the output (2^-8 |ref|) plus 2e-3 max|ref| for P rounded to fp16
  // (2^-11 relative per weight), q rounded to fp16, and fp32 sums in another order. NaN fails.
  double worst = 0;
  bool within = true;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    const double allowed = std::ldexp(std::fabs(static_cast<double>(expected[i])), -8) + 2e-3 * err.ref_max_abs;
    if (!(diff <= allowed)) within = false;
    worst = std::max(worst, std::isnan(diff) ? INFINITY : diff / allowed);
  }
  reporter.Case("Kv4Attention", c.name, within && guards,
                Fields()
                    .Number("max_abs", err.max_abs)
                    .Number("max_rel", err.max_rel)
                    .Number("ref_max_abs", err.ref_max_abs)
                    .Number("worst_err_over_tol", worst)
                    .Bool("guards_intact", guards)
                    .Number("workspace_bytes", static_cast<double>(workspace_bytes))
                    .Number("num_sms", sms));
}

void AttentionBenchmarks(Reporter& reporter, int sms) {
  // One Llama-3-8B layer (Hq 32, Hkv 8, d 128, S + R = 64 + 256) over a 1M-token KV4 cache
  // (8 heads x 1M x 68 B x 2 = 1.1 GB), contents random codes with finite params.
  const duo::ModelShape shape = Llama3_8bShape();
  const int hq = shape.num_q_heads, hkv = shape.num_kv_heads, d = shape.head_dim, window = 64 + 256;
  const int capacity = 1 << 20;
  const std::size_t groups = static_cast<std::size_t>(capacity) * hkv;
  duo::DeviceBuffer d_qkv, d_out, d_ws;
  DeviceKv4 rk, rv, sk, sv, ck, cv;
  const int prefill_tokens = 4096;
  const std::size_t workspace_bytes = duo::Kv4AttentionWorkspaceBytes(hq, hkv, d, sms);
  if (!reporter.Ok(d_qkv.Allocate(static_cast<std::size_t>(prefill_tokens) * (hq + 2 * hkv) * d * 2), "cudaMalloc") ||
      !reporter.Ok(d_out.Allocate(static_cast<std::size_t>(prefill_tokens) * hq * d * 2), "cudaMalloc") ||
      !reporter.Ok(d_ws.Allocate(workspace_bytes), "cudaMalloc") || !rk.Allocate(reporter, static_cast<int>(groups), d) ||
      !rv.Allocate(reporter, static_cast<int>(groups), d) || !sk.Allocate(reporter, window * hkv, d) ||
      !sv.Allocate(reporter, window * hkv, d) || !ck.Allocate(reporter, prefill_tokens * hkv, d) ||
      !cv.Allocate(reporter, prefill_tokens * hkv, d))
    return;
  // Codes: any bytes; params: scale 2^-4, zero -0.5 (0x2C00, 0xB800): finite values.
  std::vector<uint32_t> params(groups, 0xB8002C00u);
  cudaMemset(d_qkv.As<void>(), 0x3C, static_cast<std::size_t>(prefill_tokens) * (hq + 2 * hkv) * d * 2);
  for (DeviceKv4* kv : {&rk, &rv, &sk, &sv, &ck, &cv}) {
    cudaMemset(kv->codes.As<void>(), 0x5A, static_cast<std::size_t>(kv->groups) * d / 2);
    cudaMemcpy(kv->params.As<void>(), params.data(), static_cast<std::size_t>(kv->groups) * 4, cudaMemcpyHostToDevice);
  }
  if (!reporter.Ok(cudaDeviceSynchronize(), "bench setup")) return;
  const double bandwidth = CopyBandwidth(reporter);
  if (bandwidth <= 0) return;
  const double group_bytes = duo::Kv4GroupBytes(d);

  duo::Kv4AttentionArgs args{};
  args.qkv = d_qkv.As<__nv_bfloat16>();
  args.retrieval_k = rk.ConstView();
  args.retrieval_v = rv.ConstView();
  args.streaming_k = sk.ConstView();
  args.streaming_v = sv.ConstView();
  args.chunk_k = ck.ConstView();
  args.chunk_v = cv.ConstView();
  args.num_q_heads = hq;
  args.num_kv_heads = hkv;
  args.head_dim = d;
  args.scale = 1.0f / std::sqrt(static_cast<float>(d));
  args.out = d_out.As<__nv_bfloat16>();
  for (const int fr : {8, 4, 2}) {
    for (const int past : {8 << 10, 32 << 10, 128 << 10, 512 << 10, 1 << 20}) {
      const int fs = hkv - fr;
      // Short pasts rotate over disjoint regions of the cache so that L2 cannot serve repeats.
      const int regions = std::max(1, std::min(8, capacity / past));
      int call = 0;
      args.tokens = 1;
      args.num_retrieval_kv_heads = fr;
      args.retrieval_len = past;
      args.streaming_len = std::min(past, window);
      auto launch = [&] {
        const std::size_t offset = static_cast<std::size_t>(call++ % regions) * past * fr;
        args.retrieval_k = {rk.codes.As<uint8_t>() + offset * d / 2, rk.params.As<__half2>() + offset};
        args.retrieval_v = {rv.codes.As<uint8_t>() + offset * d / 2, rv.params.As<__half2>() + offset};
        return duo::LaunchKv4Attention(args, d_ws.As<void>(), workspace_bytes, sms, nullptr);
      };
      constexpr int kBackToBack = 8;
      auto launch_many = [&] {
        for (int i = 0; i < kBackToBack; ++i) {
          const cudaError_t status = launch();
          if (status != cudaSuccess) return status;
        }
        return cudaSuccess;
      };
      const double ms = MedianMilliseconds(launch_many, 15, 2) / kBackToBack;
      const double ms_single = MedianMilliseconds(launch, 30, 3);
      const double rows = static_cast<double>(fr) * past + static_cast<double>(fs) * args.streaming_len + hkv;
      const double bytes = rows * group_bytes * 2;  // K and V
      const double floor_ms = bytes / bandwidth * 1e3;
      reporter.Timing("Kv4Attention",
                      "llama3-8b-layer decode fr" + std::to_string(fr) + " past" + std::to_string(past / 1024) + "K",
                      Fields()
                          .Number("ms", ms)
                          .Number("ms_single_call", ms_single)
                          .Number("bytes", bytes)
                          .Number("floor_ms", floor_ms)
                          .Number("ratio", ms / floor_ms)
                          .Number("ratio_single_call", ms_single / floor_ms)
                          .Number("gb_per_s", bytes / (ms * 1e-3) / 1e9)
                          .Number("bf16_cache_bytes", rows * d * 2 * 2));
    }
  }
  // A later prefill chunk: 4096 tokens over 32K of past, half the heads retrieval.
  args.tokens = prefill_tokens;
  args.num_retrieval_kv_heads = 4;
  args.retrieval_k = rk.ConstView();
  args.retrieval_v = rv.ConstView();
  args.retrieval_len = 32 << 10;
  args.streaming_len = window;
  const double ms = MedianMilliseconds([&] { return duo::LaunchKv4Attention(args, d_ws.As<void>(), workspace_bytes, sms, nullptr); }, 5, 1);
  // Useful FLOPs: 4 d per (query head, visible key) (QK^T and PV).
  double pairs = 0;
  for (int kvh = 0; kvh < hkv; ++kvh) {
    const double past = kvh < 4 ? args.retrieval_len : window;
    pairs += (hq / hkv) * (prefill_tokens * past + prefill_tokens * (prefill_tokens + 1) / 2.0);
  }
  reporter.Timing("Kv4Attention", "llama3-8b-layer prefill chunk 4096 over 32K fr4",
                  Fields().Number("ms", ms).Number("tflops", pairs * 4 * d / (ms * 1e-3) / 1e12));
}

}  // namespace

DUO_CHECK(Kv4Quantize) {
  // The host reference first: the reference spec's worked example (§5.2), a group of 8.
  {
    const float x[8] = {-1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 2.0f};
    const HostKv4 kv = QuantizeKv4Reference(x, 1, 8);
    float back[8];
    DequantizeKv4Reference(kv, 0, back);
    const uint8_t bytes[4] = {0x02, 0x56, 0x79, 0xAF};
    const float dequantized[8] = {-1.0f, -0.6001f, 0.0f, 0.1992f, 0.3994f, 0.7998f, 1.0f, 2.0f};
    bool ok = std::equal(kv.codes.begin(), kv.codes.end(), bytes) && HalfValue(kv.Zero(0)) == -1.0f &&
              HalfValue(kv.Scale(0)) == 0.199951171875f;
    for (int i = 0; i < 8; ++i) ok = ok && std::fabs(back[i] - dequantized[i]) < 1e-4f;
    reporter.Case("Kv4Quantize", "host reference = spec worked example", ok,
                  Fields().Number("scale", HalfValue(kv.Scale(0))).Number("zero", HalfValue(kv.Zero(0))));
  }
  const duo::ModelShape llama = Llama3_8bShape();
  uint64_t seed = 7000;
  QuantizeCase(reporter, "llama3-8b T1", 1, llama.num_q_heads, llama.num_kv_heads, llama.head_dim, seed += 10);
  QuantizeCase(reporter, "llama3-8b T37", 37, llama.num_q_heads, llama.num_kv_heads, llama.head_dim, seed += 10);
  QuantizeCase(reporter, "llama3-8b T4096", 4096, llama.num_q_heads, llama.num_kv_heads, llama.head_dim, seed += 10);
  QuantizeCase(reporter, "toy d32 T33", 33, 8, 4, 32, seed += 10);
  QuantizeCase(reporter, "d64 hkv3 T5", 5, 6, 3, 64, seed += 10);
  QuantizeCase(reporter, "d256 hkv1 T3", 3, 2, 1, 256, seed += 10);
}

DUO_CHECK(Kv4Append) {
  AppendSequence(reporter, "toy mixed", 4, 2, 32, 4, 8, {5, 1, 1, 20, 3, 1}, 1);
  AppendSequence(reporter, "toy streaming-only", 4, 0, 32, 4, 8, {1, 13, 1, 2}, 2);
  AppendSequence(reporter, "toy retrieval-only", 4, 4, 32, 4, 8, {7, 1, 1}, 3);
  AppendSequence(reporter, "toy no ring", 4, 2, 32, 4, 0, {3, 5, 1}, 4);
  AppendSequence(reporter, "llama3-8b fr3", 8, 3, 128, 64, 256, {300, 1, 1, 500, 1}, 5);
}

DUO_CHECK(Kv4Attention) {
  const int sms = DeviceSms(reporter);
  if (sms <= 0) return;
  uint64_t seed = 9000;
  // Decode (T = 1): the token attends to its past and its own codes.
  for (const int fr : {8, 4, 2, 0}) {
    for (const int past : {0, 1, 4097, 20000}) {
      for (const int streaming : {0, 7, 320}) {
        AttentionCaseRun(reporter,
                         {"llama decode fr" + std::to_string(fr) + " r" + std::to_string(past) + " s" +
                              std::to_string(streaming),
                          32, 8, fr, 128, 1, past, streaming, 0, 0},
                         sms, seed += 10);
      }
    }
  }
  AttentionCaseRun(reporter, {"llama decode fr4 r20000 s320 num_sms=1", 32, 8, 4, 128, 1, 20000, 320, 1, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"llama decode fr2 r20000 s320 small-workspace", 32, 8, 2, 128, 1, 20000, 320, 0, 1}, sms,
                   seed += 10);
  AttentionCaseRun(reporter, {"llama decode fr4 r3000 s320 no-workspace", 32, 8, 4, 128, 1, 3000, 320, 0, -1}, sms,
                   seed += 10);
  for (const int fr : {0, 2, 4}) {
    for (const int past : {0, 5, 300, 2049}) {
      AttentionCaseRun(reporter,
                       {"toy decode fr" + std::to_string(fr) + " past" + std::to_string(past), 8, 4, fr, 32, 1, past,
                        std::min(past, 80), 0, 0},
                       sms, seed += 10);
    }
  }
  AttentionCaseRun(reporter, {"d64 G4 decode r1000 s80", 16, 4, 2, 64, 1, 1000, 80, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"d64 G1 decode r999 s33", 4, 4, 2, 64, 1, 999, 33, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"d64 G8 decode r777 s80", 24, 3, 1, 64, 1, 777, 80, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"d128 G6 decode r3000 s80", 12, 2, 1, 128, 1, 3000, 80, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"d64 G32 decode r500 s80", 32, 1, 1, 64, 1, 500, 80, 0, 0}, sms, seed += 10);
  // Prefill chunks after the first: causal over the chunk's own codes, all of the past.
  AttentionCaseRun(reporter, {"llama chunk T37 fr4 r1000 s320", 32, 8, 4, 128, 37, 1000, 320, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"llama chunk T300 fr8 r64", 32, 8, 8, 128, 300, 64, 0, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"llama chunk T129 fr2 r5000 s320 num_sms=1", 32, 8, 2, 128, 129, 5000, 320, 1, 0}, sms,
                   seed += 10);
  AttentionCaseRun(reporter, {"llama chunk T64 fr4 r700 s320 no-workspace", 32, 8, 4, 128, 64, 700, 320, 0, -1}, sms,
                   seed += 10);
  AttentionCaseRun(reporter, {"toy chunk T100 fr2 r300 s80", 8, 4, 2, 32, 100, 300, 80, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"d64 G6 chunk T9 fr1 r333 s80", 12, 2, 1, 64, 9, 333, 80, 0, 0}, sms, seed += 10);
  AttentionCaseRun(reporter, {"d64 G1 chunk T50 fr2 r10 s10", 4, 4, 2, 64, 50, 10, 10, 0, 0}, sms, seed += 10);
  if (reporter.Benchmarks()) AttentionBenchmarks(reporter, sms);
}
