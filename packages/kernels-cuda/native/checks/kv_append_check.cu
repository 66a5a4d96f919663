// KV append against a CPU simulation that appends the tokens ONE BY ONE (retrieval rows c + t; the
// streaming cache's sink slots and ring, later tokens overwriting earlier ones), over whole
// sequences of calls, comparing both caches bit for bit after every call (slots never written
// keep their initial random contents, so stray writes are caught too).
#include <cuda_bf16.h>

#include <cstdint>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/kv_append.cuh"

namespace {

using namespace duo::checks;

struct Config {
  const char* name;
  int hq;
  int hkv;
  int fr;
  int d;
  int sink;
  int recent;
};

struct Caches {
  std::vector<uint16_t> rk, rv, sk, sv;
};

// One token at a time: the obviously correct semantics of DESIGN §3.
void Simulate(const Config& c, const std::vector<uint16_t>& qkv, int tokens, int start, int capacity, Caches& caches) {
  const int stride = (c.hq + 2 * c.hkv) * c.d;
  const int fs = c.hkv - c.fr;
  for (int t = 0; t < tokens; ++t) {
    const int p = start + t;
    for (int h = 0; h < c.hkv; ++h) {
      const uint16_t* k = &qkv[static_cast<std::size_t>(t) * stride + static_cast<std::size_t>(c.hq + h) * c.d];
      const uint16_t* v = &qkv[static_cast<std::size_t>(t) * stride + static_cast<std::size_t>(c.hq + c.hkv + h) * c.d];
      if (h < c.fr) {
        if (p >= capacity) continue;
        const std::size_t row = (static_cast<std::size_t>(p) * c.fr + h) * c.d;
        for (int i = 0; i < c.d; ++i) caches.rk[row + i] = k[i], caches.rv[row + i] = v[i];
      } else {
        int slot;
        if (p < c.sink) {
          slot = p;
        } else if (c.recent > 0) {
          slot = c.sink + (p - c.sink) % c.recent;
        } else {
          continue;
        }
        const std::size_t row = (static_cast<std::size_t>(slot) * fs + (h - c.fr)) * c.d;
        for (int i = 0; i < c.d; ++i) caches.sk[row + i] = k[i], caches.sv[row + i] = v[i];
      }
    }
  }
}

std::vector<uint16_t> RandomBits(std::size_t count, uint64_t seed) { return ToBf16Bits(RandomFloats(count, seed, 8.0f)); }

std::size_t Differences(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

}  // namespace

DUO_CHECK(KvAppend) {
  const Config configs[] = {
      {"toy-mixed", 8, 4, 2, 32, 4, 8},     {"toy-streaming-only", 8, 4, 0, 32, 4, 8},
      {"toy-retrieval-only", 8, 4, 4, 32, 4, 8}, {"llama3-8b-mixed", 32, 8, 3, 128, 4, 8},
      {"toy-no-ring", 8, 4, 2, 32, 4, 0},   {"toy-no-sink", 8, 4, 2, 32, 0, 8},
  };
  const int kStarts[] = {0, 3, 10, 37};
  const int kCallTokens[] = {1, 5, 20};
  const int capacity = 64;
  for (const Config& c : configs) {
    const int stride = (c.hq + 2 * c.hkv) * c.d;
    const int fs = c.hkv - c.fr;
    const std::size_t r_elems = static_cast<std::size_t>(capacity) * c.fr * c.d;
    const std::size_t s_elems = static_cast<std::size_t>(c.sink + c.recent) * fs * c.d;
    bool all_ok = true;
    std::size_t calls = 0;
    std::size_t first_bad = 0;
    for (int c0 : kStarts) {
      for (int tokens : kCallTokens) {
        // The sequence: prefill 0..c0 in chunks of 7, the call under test at c0, then one decode.
        std::vector<std::pair<int, int>> sequence;
        for (int p = 0; p < c0; p += 7) sequence.push_back({p, c0 - p < 7 ? c0 - p : 7});
        sequence.push_back({c0, tokens});
        sequence.push_back({c0 + tokens, 1});
        Caches host{RandomBits(r_elems, 61), RandomBits(r_elems, 62), RandomBits(s_elems, 63), RandomBits(s_elems, 64)};
        duo::DeviceBuffer rk, rv, sk, sv, d_qkv;
        auto put = [&](duo::DeviceBuffer& b, const std::vector<uint16_t>& h) {
          return reporter.Ok(b.Allocate(h.size() * 2), "cudaMalloc") &&
                 reporter.Ok(cudaMemcpy(b.As<void>(), h.data(), h.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
        };
        if (!put(rk, host.rk) || !put(rv, host.rv) || !put(sk, host.sk) || !put(sv, host.sv)) return;
        for (const auto& [start, n] : sequence) {
          ++calls;
          const std::vector<uint16_t> qkv = RandomBits(static_cast<std::size_t>(n) * stride, 1000 + 31 * start + n);
          if (!put(d_qkv, qkv)) return;
          Simulate(c, qkv, n, start, capacity, host);
          // Absent groups are passed as null, as the executor will.
          const bool has_r = c.fr > 0;
          const bool has_s = fs > 0;
          if (!reporter.Ok(duo::LaunchKvAppend(d_qkv.As<__nv_bfloat16>(), n, start, c.hq, c.hkv, c.fr, c.d,
                                               has_r ? rk.As<__nv_bfloat16>() : nullptr, has_r ? rv.As<__nv_bfloat16>() : nullptr,
                                               has_s ? sk.As<__nv_bfloat16>() : nullptr, has_s ? sv.As<__nv_bfloat16>() : nullptr,
                                               c.sink, c.recent, nullptr),
                           "LaunchKvAppend"))
            return;
          Caches got{std::vector<uint16_t>(r_elems), std::vector<uint16_t>(r_elems), std::vector<uint16_t>(s_elems),
                     std::vector<uint16_t>(s_elems)};
          auto get = [&](std::vector<uint16_t>& h, const duo::DeviceBuffer& b) {
            return reporter.Ok(cudaMemcpy(h.data(), b.As<void>(), h.size() * 2, cudaMemcpyDeviceToHost), "cudaMemcpy");
          };
          if (!get(got.rk, rk) || !get(got.rv, rv) || !get(got.sk, sk) || !get(got.sv, sv)) return;
          const std::size_t bad = Differences(got.rk, host.rk) + Differences(got.rv, host.rv) +
                                  Differences(got.sk, host.sk) + Differences(got.sv, host.sv);
          if (bad != 0 && all_ok) {
            first_bad = bad;
            reporter.Case("KvAppend", std::string(c.name) + "/c" + std::to_string(start) + "-T" + std::to_string(n), false,
                          Fields().Number("mismatched_elements", static_cast<double>(bad)).Number("sequence_start", c0));
          }
          all_ok = all_ok && bad == 0;
        }
      }
    }
    reporter.Case("KvAppend", c.name, all_ok,
                  Fields()
                      .Text("tolerance", "bit-identical caches after every call")
                      .Number("calls", static_cast<double>(calls))
                      .Number("first_mismatch_elements", static_cast<double>(first_bad))
                      .Number("sink", c.sink)
                      .Number("recent", c.recent));
  }
  if (reporter.Benchmarks()) {
    // Llama-3-8B layer, half the KV heads retrieval, S = 64, R = 256: a decode step deep into the
    // context, and a 4096-token prefill chunk (most streaming tokens are skipped: only the sinks
    // and the last R are written).
    const Config c{"llama3-8b", 32, 8, 4, 128, 64, 256};
    const int fs = c.hkv - c.fr;
    const int stride = (c.hq + 2 * c.hkv) * c.d;
    for (int tokens : {1, 4096}) {
      const int start = tokens == 1 ? 8192 : 0;
      const int cap = start + tokens;
      duo::DeviceBuffer d_qkv, rk, rv, sk, sv;
      const std::size_t r_bytes = static_cast<std::size_t>(cap) * c.fr * c.d * 2;
      const std::size_t s_bytes = static_cast<std::size_t>(c.sink + c.recent) * fs * c.d * 2;
      const std::size_t qkv_bytes = static_cast<std::size_t>(tokens) * stride * 2;
      if (!reporter.Ok(d_qkv.Allocate(qkv_bytes), "cudaMalloc") || !reporter.Ok(rk.Allocate(r_bytes), "cudaMalloc") ||
          !reporter.Ok(rv.Allocate(r_bytes), "cudaMalloc") || !reporter.Ok(sk.Allocate(s_bytes), "cudaMalloc") ||
          !reporter.Ok(sv.Allocate(s_bytes), "cudaMalloc"))
        return;
      cudaMemset(d_qkv.As<void>(), 0, qkv_bytes);
      // Bytes: every written element is read once and written once.
      long written_streaming = 0;
      for (int t = 0; t < tokens; ++t) {
        const long p = start + t;
        if (p < c.sink || p >= static_cast<long>(start) + tokens - c.recent) ++written_streaming;
      }
      const double bytes = 2.0 * 2.0 * 2.0 * c.d * (static_cast<double>(tokens) * c.fr + static_cast<double>(written_streaming) * fs);
      const double ms = MedianMilliseconds([&] {
        return duo::LaunchKvAppend(d_qkv.As<__nv_bfloat16>(), tokens, start, c.hq, c.hkv, c.fr, c.d, rk.As<__nv_bfloat16>(),
                                   rv.As<__nv_bfloat16>(), sk.As<__nv_bfloat16>(), sv.As<__nv_bfloat16>(), c.sink, c.recent, nullptr);
      });
      const double floor_ms = bytes / CopyBandwidth(reporter) * 1e3;
      reporter.Timing("KvAppend", "llama3-8b/T" + std::to_string(tokens),
                      Fields().Number("ms", ms).Number("bytes", bytes).Number("floor_ms", floor_ms).Number("ratio", ms / floor_ms));
    }
  }
}
