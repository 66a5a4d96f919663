// Decode attention against an fp64 CPU reference on bf16-rounded random data, for retrieval-only,
// streaming-only and mixed layers; cache rows past the valid lengths hold NaN (so any read of them
// shows), and guard bytes after the output and the workspace must stay untouched. With --bench,
// one Llama-3-8B layer call at 8K..512K tokens of past, against the K/V-bytes floor.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/decode_attention.cuh"

namespace {

using namespace duo::checks;

constexpr uint16_t kNanBits = 0x7FC0;       // a bf16 quiet NaN: rows that must never be read
constexpr int kGuardRows = 3;               // NaN rows after the valid rows of each cache
constexpr std::size_t kGuardBytes = 4096;   // after the output and the workspace
constexpr unsigned char kGuardByte = 0xA5;

struct Case {
  std::string name;
  int hq, hkv, fr, d;
  int retrieval_len, streaming_len, streaming_capacity;
  int num_sms;              // 0: the device's
  bool small_workspace;     // workspace sized for 1 SM (forces the launcher to use fewer splits)
};

/** Random values shared by the cases of one (d, Hkv) family, already rounded to bf16. */
struct Pools {
  std::vector<float> k, v;          // retrieval pool: rows x Hkv x d, read as [rows, Fr, d]
  std::vector<float> sk, sv;        // streaming pool: capacity x Hkv x d, read as [capacity, Fs, d]
};

Pools MakePools(int rows, int capacity, int hkv, int d, uint64_t seed) {
  // Keys span [-4, 4] and queries [-1, 1]: scores q.k/sqrt(d) have std ~1.3, so the softmax is
  // neither flat nor one-hot.
  Pools pools;
  pools.k = RandomFloats(static_cast<std::size_t>(rows) * hkv * d, seed, 4.0f);
  pools.v = RandomFloats(static_cast<std::size_t>(rows) * hkv * d, seed + 1, 1.0f);
  pools.sk = RandomFloats(static_cast<std::size_t>(capacity) * hkv * d, seed + 2, 4.0f);
  pools.sv = RandomFloats(static_cast<std::size_t>(capacity) * hkv * d, seed + 3, 1.0f);
  RoundToBf16(pools.k);
  RoundToBf16(pools.v);
  RoundToBf16(pools.sk);
  RoundToBf16(pools.sv);
  return pools;
}

/** bf16 bits of the first `valid` rows of `pool` (row = row_elems values), then kGuardRows NaN rows. */
std::vector<uint16_t> CacheBits(const std::vector<float>& pool, int valid, int capacity, std::size_t row_elems) {
  std::vector<uint16_t> bits(static_cast<std::size_t>(capacity) * row_elems, kNanBits);
  for (std::size_t i = 0; i < static_cast<std::size_t>(valid) * row_elems; ++i) bits[i] = FloatToBf16Bits(pool[i]);
  return bits;
}

/** fp64 softmax attention of every query head over its group's valid rows plus the token's own k/v. */
std::vector<float> Reference(const Case& c, const std::vector<float>& qkv, const Pools& pools, float scale) {
  const int g = c.hq / c.hkv;
  const int fs = c.hkv - c.fr;
  const int d = c.d;
  std::vector<float> out(static_cast<std::size_t>(c.hq) * d);
  std::vector<double> scores;
  std::vector<double> acc(d);
  for (int h = 0; h < c.hq; ++h) {
    const int kv = h / g;
    const bool retrieval = kv < c.fr;
    const int rows = retrieval ? c.retrieval_len : c.streaming_len;
    const int heads = retrieval ? c.fr : fs;
    const int local = retrieval ? kv : kv - c.fr;
    const float* kpool = retrieval ? pools.k.data() : pools.sk.data();
    const float* vpool = retrieval ? pools.v.data() : pools.sv.data();
    const float* q = qkv.data() + static_cast<std::size_t>(h) * d;
    const float* k_self = qkv.data() + static_cast<std::size_t>(c.hq + kv) * d;
    const float* v_self = qkv.data() + static_cast<std::size_t>(c.hq + c.hkv + kv) * d;
    auto key = [&](int t) { return t < rows ? kpool + (static_cast<std::size_t>(t) * heads + local) * d : k_self; };
    auto value = [&](int t) { return t < rows ? vpool + (static_cast<std::size_t>(t) * heads + local) * d : v_self; };
    scores.assign(rows + 1, 0.0);
    double max_score = -INFINITY;
    for (int t = 0; t <= rows; ++t) {
      const float* k = key(t);
      double dot = 0;
      for (int e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * k[e];
      scores[t] = dot * scale;
      max_score = std::max(max_score, scores[t]);
    }
    double sum = 0;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int t = 0; t <= rows; ++t) {
      const double p = std::exp(scores[t] - max_score);
      sum += p;
      const float* v = value(t);
      for (int e = 0; e < d; ++e) acc[e] += p * v[e];
    }
    for (int e = 0; e < d; ++e) out[static_cast<std::size_t>(h) * d + e] = static_cast<float>(acc[e] / sum);
  }
  return out;
}

bool GuardIntact(Reporter& reporter, const unsigned char* device, std::size_t bytes) {
  std::vector<unsigned char> host(bytes);
  if (!reporter.Ok(cudaMemcpy(host.data(), device, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(guard)")) return false;
  return std::all_of(host.begin(), host.end(), [](unsigned char b) { return b == kGuardByte; });
}

int DeviceSms(Reporter& reporter) {
  int device = 0;
  int sms = 0;
  if (!reporter.Ok(cudaGetDevice(&device), "cudaGetDevice")) return 0;
  if (!reporter.Ok(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute"))
    return 0;
  return sms;
}

void RunCase(Reporter& reporter, const Case& c, const Pools& pools, int device_sms, uint64_t seed) {
  const int d = c.d;
  const int fs = c.hkv - c.fr;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // This token's q | k | v, scaled like the caches.
  std::vector<float> qkv(static_cast<std::size_t>(c.hq + 2 * c.hkv) * d);
  const std::vector<float> q = RandomFloats(static_cast<std::size_t>(c.hq) * d, seed, 1.0f);
  const std::vector<float> k = RandomFloats(static_cast<std::size_t>(c.hkv) * d, seed + 1, 4.0f);
  const std::vector<float> v = RandomFloats(static_cast<std::size_t>(c.hkv) * d, seed + 2, 1.0f);
  std::copy(q.begin(), q.end(), qkv.begin());
  std::copy(k.begin(), k.end(), qkv.begin() + q.size());
  std::copy(v.begin(), v.end(), qkv.begin() + q.size() + k.size());
  RoundToBf16(qkv);

  const std::size_t retrieval_row = static_cast<std::size_t>(c.fr) * d;
  const std::size_t streaming_row = static_cast<std::size_t>(fs) * d;
  const int retrieval_capacity = c.retrieval_len + kGuardRows;
  const std::vector<uint16_t> rk = CacheBits(pools.k, c.retrieval_len, retrieval_capacity, retrieval_row);
  const std::vector<uint16_t> rv = CacheBits(pools.v, c.retrieval_len, retrieval_capacity, retrieval_row);
  const std::vector<uint16_t> sk = CacheBits(pools.sk, c.streaming_len, c.streaming_capacity, streaming_row);
  const std::vector<uint16_t> sv = CacheBits(pools.sv, c.streaming_len, c.streaming_capacity, streaming_row);
  const std::vector<uint16_t> qkv_bits = ToBf16Bits(qkv);

  const int sms = c.num_sms > 0 ? c.num_sms : device_sms;
  const std::size_t workspace_bytes =
      duo::DecodeAttentionWorkspaceBytes(c.retrieval_len, c.hq, d, c.small_workspace ? 1 : sms);
  const std::size_t out_bytes = static_cast<std::size_t>(c.hq) * d * 2;

  duo::DeviceBuffer d_qkv, d_rk, d_rv, d_sk, d_sv, d_out, d_ws;
  if (!reporter.Ok(d_qkv.Allocate(qkv_bits.size() * 2), "cudaMalloc") ||
      !reporter.Ok(d_rk.Allocate(rk.size() * 2), "cudaMalloc") || !reporter.Ok(d_rv.Allocate(rv.size() * 2), "cudaMalloc") ||
      !reporter.Ok(d_sk.Allocate(sk.size() * 2), "cudaMalloc") || !reporter.Ok(d_sv.Allocate(sv.size() * 2), "cudaMalloc") ||
      !reporter.Ok(d_out.Allocate(out_bytes + kGuardBytes), "cudaMalloc") ||
      !reporter.Ok(d_ws.Allocate(workspace_bytes + kGuardBytes), "cudaMalloc"))
    return;
  cudaMemcpy(d_qkv.As<void>(), qkv_bits.data(), qkv_bits.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(d_rk.As<void>(), rk.data(), rk.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(d_rv.As<void>(), rv.data(), rv.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(d_sk.As<void>(), sk.data(), sk.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(d_sv.As<void>(), sv.data(), sv.size() * 2, cudaMemcpyHostToDevice);
  // Output and workspace start as NaN (0xFF bytes): a missed write or a read of an unwritten partial shows.
  cudaMemset(d_out.As<void>(), 0xFF, out_bytes);
  cudaMemset(d_out.As<unsigned char>() + out_bytes, kGuardByte, kGuardBytes);
  cudaMemset(d_ws.As<void>(), 0xFF, workspace_bytes);
  cudaMemset(d_ws.As<unsigned char>() + workspace_bytes, kGuardByte, kGuardBytes);

  duo::DecodeAttentionArgs args{};
  args.qkv = d_qkv.As<__nv_bfloat16>();
  // A group with no heads gets null pointers, as a streaming-only or full-attention layer would.
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
  if (!reporter.Ok(duo::LaunchDecodeAttention(args, d_ws.As<void>(), workspace_bytes, sms, nullptr),
                   "LaunchDecodeAttention(" + c.name + ")"))
    return;
  if (!reporter.Ok(cudaDeviceSynchronize(), "decode attention (" + c.name + ")")) return;
  std::vector<uint16_t> out_bits(static_cast<std::size_t>(c.hq) * d);
  if (!reporter.Ok(cudaMemcpy(out_bits.data(), d_out.As<void>(), out_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(out)"))
    return;
  const bool guards = GuardIntact(reporter, d_out.As<unsigned char>() + out_bytes, kGuardBytes) &&
                      GuardIntact(reporter, d_ws.As<unsigned char>() + workspace_bytes, kGuardBytes);

  const std::vector<float> actual = FromBf16Bits(out_bits);
  const std::vector<float> expected = Reference(c, qkv, pools, scale);
  const ErrorStats err = CompareArrays(actual, expected);
  // The kernel is fp32 throughout and rounds once to bf16 at the end: allow half a bf16 ulp
  // (2^-8 |ref|) plus 1e-3 max|ref| for fp32 summation order and exp2f; NaN fails.
  double worst = 0;  // max over elements of error / allowed
  bool within = true;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    const double allowed = std::ldexp(std::fabs(static_cast<double>(expected[i])), -8) + 1e-3 * err.ref_max_abs;
    if (!(diff <= allowed)) within = false;
    worst = std::max(worst, std::isnan(diff) ? INFINITY : diff / allowed);
  }
  reporter.Case("DecodeAttention", c.name, within && guards,
                Fields()
                    .Number("max_abs", err.max_abs)
                    .Number("max_rel", err.max_rel)
                    .Number("ref_max_abs", err.ref_max_abs)
                    .Number("worst_err_over_tol", worst)
                    .Bool("guards_intact", guards)
                    .Number("workspace_bytes", static_cast<double>(workspace_bytes))
                    .Number("num_sms", sms));
}

void Benchmarks(Reporter& reporter, int sms) {
  // Llama-3-8B layer: Hq 32, Hkv 8, d 128, S 64, R 256; one 512K-token cache (2 GiB of K+V) reused.
  const int hq = 32, hkv = 8, d = 128, window = 64 + 256;
  const int capacity = 512 * 1024;
  const std::size_t cache_bytes = static_cast<std::size_t>(capacity) * hkv * d * 2;
  const std::size_t streaming_bytes = static_cast<std::size_t>(window) * hkv * d * 2;
  const std::size_t workspace_bytes = duo::DecodeAttentionWorkspaceBytes(capacity, hq, d, sms);
  duo::DeviceBuffer d_qkv, d_rk, d_rv, d_sk, d_sv, d_out, d_ws;
  if (!reporter.Ok(d_qkv.Allocate(static_cast<std::size_t>(hq + 2 * hkv) * d * 2), "cudaMalloc") ||
      !reporter.Ok(d_rk.Allocate(cache_bytes), "cudaMalloc(bench K)") ||
      !reporter.Ok(d_rv.Allocate(cache_bytes), "cudaMalloc(bench V)") ||
      !reporter.Ok(d_sk.Allocate(streaming_bytes), "cudaMalloc") || !reporter.Ok(d_sv.Allocate(streaming_bytes), "cudaMalloc") ||
      !reporter.Ok(d_out.Allocate(static_cast<std::size_t>(hq) * d * 2), "cudaMalloc") ||
      !reporter.Ok(d_ws.Allocate(workspace_bytes), "cudaMalloc"))
    return;
  // Contents do not change the work; 0x3C3C is bf16 ~0.0115 (finite, no denormals).
  cudaMemset(d_qkv.As<void>(), 0x3C, static_cast<std::size_t>(hq + 2 * hkv) * d * 2);
  cudaMemset(d_rk.As<void>(), 0x3C, cache_bytes);
  cudaMemset(d_rv.As<void>(), 0x3C, cache_bytes);
  cudaMemset(d_sk.As<void>(), 0x3C, streaming_bytes);
  cudaMemset(d_sv.As<void>(), 0x3C, streaming_bytes);
  if (!reporter.Ok(cudaDeviceSynchronize(), "bench setup")) return;
  const double bandwidth = CopyBandwidth(reporter);
  if (bandwidth <= 0) return;

  const int retrieval_heads[] = {8, 4, 2};
  const int pasts[] = {8 * 1024, 32 * 1024, 128 * 1024, 256 * 1024, 512 * 1024};
  for (const int fr : retrieval_heads) {
    for (const int past : pasts) {
      const int fs = hkv - fr;
      const int streaming_len = std::min(past, window);
      // Short pasts rotate over up to 8 disjoint regions of the cache so the 50 MB L2 cannot
      // serve repeated calls (each region is a valid [past, Fr, d] cache).
      const int regions = std::max(1, std::min(8, capacity / past));
      int call = 0;
      duo::DecodeAttentionArgs args{};
      args.qkv = d_qkv.As<__nv_bfloat16>();
      args.retrieval_len = past;
      args.streaming_k = fs > 0 ? d_sk.As<__nv_bfloat16>() : nullptr;
      args.streaming_v = fs > 0 ? d_sv.As<__nv_bfloat16>() : nullptr;
      args.streaming_len = streaming_len;
      args.num_q_heads = hq;
      args.num_kv_heads = hkv;
      args.num_retrieval_kv_heads = fr;
      args.head_dim = d;
      args.scale = 1.0f / std::sqrt(static_cast<float>(d));
      args.out = d_out.As<__nv_bfloat16>();
      auto launch = [&] {
        const std::size_t offset = static_cast<std::size_t>(call++ % regions) * past * fr * d;
        args.retrieval_k = d_rk.As<__nv_bfloat16>() + offset;
        args.retrieval_v = d_rv.As<__nv_bfloat16>() + offset;
        return duo::LaunchDecodeAttention(args, d_ws.As<void>(), workspace_bytes, sms, nullptr);
      };
      // ms: per call of 8 back-to-back calls, as the layers of a decode step run (launch latency
      // hidden); ms_single_call: one call on an idle GPU, host launch latency included.
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
      const double bytes = (static_cast<double>(fr) * past + static_cast<double>(fs) * streaming_len) * d * 2 * 2;
      const double floor_ms = bytes / bandwidth * 1e3;
      reporter.Timing("DecodeAttention",
                      "llama3-8b-layer fr" + std::to_string(fr) + " past" + std::to_string(past / 1024) + "K",
                      Fields()
                          .Number("ms", ms)
                          .Number("ms_single_call", ms_single)
                          .Number("bytes", bytes)
                          .Number("floor_ms", floor_ms)
                          .Number("ratio", ms / floor_ms)
                          .Number("ratio_single_call", ms_single / floor_ms)
                          .Number("gb_per_s", bytes / (ms * 1e-3) / 1e9));
    }
  }
}

}  // namespace

DUO_CHECK(DecodeAttention) {
  const int sms = DeviceSms(reporter);
  if (sms <= 0) return;
  uint64_t seed = 1000;

  {  // Toy model: Hq 8, Hkv 4, d 32 (G = 2), S + R = 16 + 64.
    const int window = 80;
    const Pools pools = MakePools(2049, window, 4, 32, 101);
    for (const int fr : {0, 2, 4}) {
      for (const int past : {0, 1, 5, 300, 2049}) {
        const Case c{"toy fr" + std::to_string(fr) + " past" + std::to_string(past), 8, 4, fr, 32, past,
                     std::min(past, window), window, 0, false};
        RunCase(reporter, c, pools, sms, seed += 10);
      }
    }
  }
  {  // Llama-3-8B: Hq 32, Hkv 8, d 128 (G = 4), S + R = 64 + 256.
    const int window = 320;
    const Pools pools = MakePools(20000, window, 8, 128, 202);
    for (const int fr : {8, 4, 2, 0}) {
      for (const int past : {0, 1, 4097, 20000}) {
        for (const int streaming : {0, 7, 320}) {
          const Case c{"llama fr" + std::to_string(fr) + " r" + std::to_string(past) + " s" + std::to_string(streaming),
                       32, 8, fr, 128, past, streaming, window, 0, false};
          RunCase(reporter, c, pools, sms, seed += 10);
        }
      }
    }
    // Few SMs: a handful of blocks, each spanning several items.
    RunCase(reporter, {"llama fr4 r4097 s320 num_sms=1", 32, 8, 4, 128, 4097, 320, window, 1, false}, pools, sms,
            seed += 10);
    // Workspace sized for 1 SM while launching for all: the launcher must use fewer splits.
    RunCase(reporter, {"llama fr2 r20000 s320 small-workspace", 32, 8, 2, 128, 20000, 320, window, 0, true}, pools,
            sms, seed += 10);
  }
  {  // d = 64 and the other query-head tilings: G = 4, 8 (GT 8), 1 (MHA), 6 (GT 2, 3 items per KV head).
    const Pools pools = MakePools(1000, 80, 4, 64, 303);
    RunCase(reporter, {"d64 hq16 hkv4 fr2 r1000 s80", 16, 4, 2, 64, 1000, 80, 80, 0, false}, pools, sms, seed += 10);
    RunCase(reporter, {"d64 hq4 hkv4 fr2 r999 s33 (G1)", 4, 4, 2, 64, 999, 33, 80, 0, false}, pools, sms, seed += 10);
    const Pools pools3 = MakePools(777, 80, 3, 64, 404);
    RunCase(reporter, {"d64 hq24 hkv3 fr1 r777 s80 (G8)", 24, 3, 1, 64, 777, 80, 80, 0, false}, pools3, sms,
            seed += 10);
    const Pools pools2 = MakePools(3000, 80, 2, 128, 505);
    RunCase(reporter, {"d128 hq12 hkv2 fr1 r3000 s80 (G6)", 12, 2, 1, 128, 3000, 80, 80, 0, false}, pools2, sms,
            seed += 10);
  }
  if (reporter.Benchmarks()) Benchmarks(reporter, sms);
}
