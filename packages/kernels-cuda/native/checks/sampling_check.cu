// Argmax and sampling on the GPU against a float64 CPU port of packages/core/src/engine/sampling.ts
// (same processor order, same top-k heap, same nucleus threshold loop, same id-order draw).
// Argmax must match exactly. A sampled token may differ only where float rounding can move it: the
// uniform within 1e-5 of a boundary of the normalised CDF of the kept tokens, or the nucleus's
// running sum within 1e-5 * total of top_p * total; such cases are counted and reported.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/sampling.cuh"

namespace {

using namespace duo::checks;

struct Rng {
  uint64_t state;
  uint64_t Next() {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Unit() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  int Below(int n) { return static_cast<int>(Next() % static_cast<uint64_t>(n)); }
};

struct PortResult {
  int token = 0;
  double cdf_margin = INFINITY;      // min |uniform - boundary| over the normalised CDF
  double nucleus_margin = INFINITY;  // min |running sum - target| / total around the nucleus cut
  bool top_k_ambiguous = false;      // the k-th and (k+1)-th scores differ only below fp32
};

constexpr int kPortNaN = -1;
constexpr int kPortAllNegInf = -2;

bool RanksBefore(const std::vector<double>& s, int a, int b) { return s[a] > s[b] || (s[a] == s[b] && a < b); }

// sampling.ts topKIds: a size-k heap whose root is the worst kept id.
std::vector<int> TopKIds(const std::vector<double>& scores, int k) {
  std::vector<int> heap(k);
  int size = 0;
  auto sift_down = [&](int start) {
    int i = start;
    for (;;) {
      const int left = 2 * i + 1;
      const int right = left + 1;
      int worst = i;
      if (left < size && RanksBefore(scores, heap[worst], heap[left])) worst = left;
      if (right < size && RanksBefore(scores, heap[worst], heap[right])) worst = right;
      if (worst == i) return;
      std::swap(heap[i], heap[worst]);
      i = worst;
    }
  };
  for (int id = 0; id < static_cast<int>(scores.size()); ++id) {
    if (size < k) {
      int i = size++;
      heap[i] = id;
      while (i > 0) {
        const int parent = (i - 1) >> 1;
        if (!RanksBefore(scores, heap[parent], heap[i])) break;
        std::swap(heap[i], heap[parent]);
        i = parent;
      }
    } else if (RanksBefore(scores, id, heap[0])) {
      heap[0] = id;
      sift_down(0);
    }
  }
  return heap;
}

// sampling.ts nucleus, plus the margin of its cut.
std::vector<int> Nucleus(const std::vector<double>& w, const std::vector<int>& candidates, double total, double top_p,
                         double& margin) {
  const double target = top_p * total;
  double max_weight = 0;
  for (int id : candidates) max_weight = std::max(max_weight, w[id]);
  double threshold = max_weight / 1024;
  for (;;) {
    std::vector<int> above;
    for (int id : candidates)
      if (w[id] >= threshold) above.push_back(id);
    std::stable_sort(above.begin(), above.end(), [&](int a, int b) { return w[a] > w[b] || (w[a] == w[b] && a < b); });
    double sum = 0;
    for (std::size_t n = 0; n < above.size(); ++n) {
      const double before = sum;
      sum += w[above[n]];
      if (sum >= target) {
        margin = std::min(std::fabs(sum - target), std::fabs(before - target)) / total;
        return std::vector<int>(above.begin(), above.begin() + n + 1);
      }
    }
    if (threshold == 0 || above.size() == candidates.size()) {
      margin = std::fabs(sum - target) / total;
      return above;
    }
    threshold = threshold > 1e-300 ? threshold / 0x100000 : 0;
  }
}

PortResult PortSample(const std::vector<float>& logits, const duo::SamplingParams& p, const std::vector<int32_t>& previous,
                      float uniform_f) {
  PortResult r;
  const int vocab = static_cast<int>(logits.size());
  std::vector<double> scores(logits.begin(), logits.end());
  const double penalty = p.repetition_penalty;
  if (penalty != 1) {
    std::vector<char> seen(vocab, 0);
    for (int32_t id : previous) {
      if (seen[id]) continue;
      seen[id] = 1;
      const double v = scores[id];
      scores[id] = v > 0 ? v / penalty : v * penalty;
    }
  }
  if (p.temperature == 0) {
    int best = 0;
    for (int i = 0; i < vocab; ++i) {
      if (std::isnan(scores[i])) {
        r.token = kPortNaN;
        return r;
      }
      if (scores[i] > scores[best]) best = i;
    }
    r.token = best;
    return r;
  }
  for (int i = 0; i < vocab; ++i) {
    if (std::isnan(scores[i])) {
      r.token = kPortNaN;
      return r;
    }
    scores[i] = scores[i] / static_cast<double>(p.temperature);
  }
  std::vector<int> candidates;
  const bool top_k = p.top_k > 0 && p.top_k < vocab;
  if (top_k) {
    candidates = TopKIds(scores, p.top_k);
    std::vector<int> order(vocab);
    for (int i = 0; i < vocab; ++i) order[i] = i;
    std::nth_element(order.begin(), order.begin() + p.top_k, order.end(), [&](int a, int b) { return RanksBefore(scores, a, b); });
    const double kth = scores[*std::min_element(order.begin(), order.begin() + p.top_k, [&](int a, int b) { return RanksBefore(scores, b, a); })];
    const double next = scores[order[p.top_k]];
    r.top_k_ambiguous = kth != next && static_cast<float>(kth) == static_cast<float>(next);
  } else {
    candidates.resize(vocab);
    for (int i = 0; i < vocab; ++i) candidates[i] = i;
  }
  double max = -INFINITY;
  for (int id : candidates) max = std::max(max, scores[id]);
  if (max == -INFINITY) {
    r.token = kPortAllNegInf;
    return r;
  }
  std::vector<double> w(vocab, 0.0);
  double total = 0;
  for (int id : candidates) {
    w[id] = scores[id] == max ? 1 : std::exp(scores[id] - max);
    total += w[id];
  }
  if (p.top_p < 1) {
    candidates = Nucleus(w, candidates, total, p.top_p, r.nucleus_margin);
    total = 0;
    for (int id : candidates) total += w[id];
  }
  std::sort(candidates.begin(), candidates.end());
  const double u = static_cast<double>(uniform_f) * total;
  double cumulative = 0;
  int last = -1;
  r.token = -3;
  for (int id : candidates) {
    if (w[id] == 0) continue;
    last = id;
    cumulative += w[id];
    if (r.token < 0 && u < cumulative) r.token = id;
    r.cdf_margin = std::min(r.cdf_margin, std::fabs(static_cast<double>(uniform_f) - cumulative / total));
  }
  if (r.token < 0) r.token = last;
  return r;
}

struct Gpu {
  duo::DeviceBuffer logits, previous, workspace, out;
  int capacity = 0;
  bool Init(Reporter& reporter, int vocab, int max_previous) {
    capacity = vocab;
    return reporter.Ok(logits.Allocate(static_cast<std::size_t>(vocab + 4) * 4), "cudaMalloc logits") &&
           reporter.Ok(previous.Allocate(static_cast<std::size_t>(max_previous) * 4), "cudaMalloc previous") &&
           reporter.Ok(workspace.Allocate(duo::SampleWorkspaceBytes(vocab)), "cudaMalloc workspace") &&
           reporter.Ok(out.Allocate(4), "cudaMalloc out");
  }
  bool Sample(Reporter& reporter, const std::vector<float>& host_logits, const duo::SamplingParams& p,
              const std::vector<int32_t>& prev, float uniform, int32_t& token) {
    const int vocab = static_cast<int>(host_logits.size());
    if (!reporter.Ok(cudaMemcpy(logits.As<void>(), host_logits.data(), vocab * 4, cudaMemcpyHostToDevice), "cudaMemcpy logits")) return false;
    if (!prev.empty() &&
        !reporter.Ok(cudaMemcpy(previous.As<void>(), prev.data(), prev.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy previous"))
      return false;
    if (!reporter.Ok(duo::LaunchSample(logits.As<float>(), vocab, p, prev.empty() ? nullptr : previous.As<int32_t>(),
                                       static_cast<int>(prev.size()), uniform, workspace.As<void>(), duo::SampleWorkspaceBytes(vocab),
                                       out.As<int32_t>(), nullptr),
                     "LaunchSample"))
      return false;
    return reporter.Ok(cudaMemcpy(&token, out.As<void>(), 4, cudaMemcpyDeviceToHost), "cudaMemcpy out");
  }
  bool Argmax(Reporter& reporter, const std::vector<float>& host_logits, int offset, int32_t& token) {
    const int vocab = static_cast<int>(host_logits.size());
    float* base = logits.As<float>() + offset;
    if (!reporter.Ok(cudaMemcpy(base, host_logits.data(), vocab * 4, cudaMemcpyHostToDevice), "cudaMemcpy logits") ||
        !reporter.Ok(duo::LaunchArgmax(base, vocab, out.As<int32_t>(), nullptr), "LaunchArgmax"))
      return false;
    return reporter.Ok(cudaMemcpy(&token, out.As<void>(), 4, cudaMemcpyDeviceToHost), "cudaMemcpy out");
  }
};

int CpuArgmax(const std::vector<float>& v) {
  int best = 0;
  for (int i = 0; i < static_cast<int>(v.size()); ++i) {
    if (std::isnan(v[i])) return -1;
    if (v[i] > v[best]) best = i;
  }
  return best;
}

constexpr int kMaxVocab = 128256;

}  // namespace

DUO_CHECK(Argmax) {
  Gpu gpu;
  if (!gpu.Init(reporter, kMaxVocab, 1)) return;
  struct Case {
    std::string name;
    std::vector<float> logits;
    int offset;  // 1 = a logits pointer that is not 16-byte aligned
  };
  std::vector<Case> cases;
  for (int vocab : {2048, kMaxVocab}) {
    std::vector<float> v = RandomFloats(vocab, 71 + vocab, 8.0f);
    RoundToBf16(v);  // bf16 logits: the maximum is usually tied several times
    cases.push_back({"random-bf16/" + std::to_string(vocab), v, 0});
  }
  {
    std::vector<float> v(2048, 0.0f);
    v[700] = v[5] = v[1999] = 3.0f;
    cases.push_back({"ties", v, 0});
    v[1234] = NAN;
    cases.push_back({"nan", v, 0});
  }
  cases.push_back({"all-neg-inf", std::vector<float>(2048, -INFINITY), 0});
  {
    std::vector<float> v(2048, -1.0f);
    v[10] = -0.0f;
    v[3] = 0.0f;
    cases.push_back({"signed-zero-tie", v, 0});
    std::swap(v[10], v[3]);
    cases.push_back({"signed-zero-tie-swapped", v, 0});
  }
  {
    std::vector<float> v = RandomFloats(2047, 73, 4.0f);
    cases.push_back({"unaligned-2047", v, 1});
  }
  for (const Case& c : cases) {
    int32_t got = -99;
    if (!gpu.Argmax(reporter, c.logits, c.offset, got)) return;
    const int want = CpuArgmax(c.logits);
    reporter.Case("Argmax", c.name, got == want, Fields().Number("got", got).Number("expected", want));
  }
  if (reporter.Benchmarks()) {
    std::vector<float> v = RandomFloats(kMaxVocab, 74, 8.0f);
    const double ms = MedianMilliseconds([&] { return duo::LaunchArgmax(gpu.logits.As<float>(), kMaxVocab, gpu.out.As<int32_t>(), nullptr); });
    const double bytes = kMaxVocab * 4.0;
    const double floor_ms = bytes / CopyBandwidth(reporter) * 1e3;
    reporter.Timing("Argmax", "vocab128256", Fields().Number("ms", ms).Number("bytes", bytes).Number("floor_ms", floor_ms).Number("ratio", ms / floor_ms));
  }
}

DUO_CHECK(Sample) {
  Gpu gpu;
  if (!gpu.Init(reporter, kMaxVocab, 256)) return;
  Rng rng{2024};
  const int kVocabs[] = {2048, 2048, 2048, 32000, kMaxVocab};
  const float kScales[] = {1.0f, 3.0f, 8.0f};
  const float kTemps[] = {0.0f, 0.5f, 0.7f, 1.0f, 1.0f, 1.3f, 0.7f, 1.0f, 0.5f, 1.3f};
  const int kTopKs[] = {0, 0, 1, 5, 50, 50, 1024, 2000};
  const float kTopPs[] = {1.0f, 1.0f, 0.9f, 0.5f, 0.95f};
  const float kPenalties[] = {1.0f, 1.0f, 1.1f, 1.3f, 0.8f};
  int cases = 0, same = 0, ambiguous_cdf = 0, ambiguous_nucleus = 0, ambiguous_top_k = 0;
  int mismatches_excused = 0, mismatches_unexplained = 0;
  std::string first_unexplained;
  for (int i = 0; i < 200; ++i) {
    const int vocab = kVocabs[rng.Below(5)];
    std::vector<float> logits = RandomFloats(vocab, 1000 + i, kScales[rng.Below(3)]);
    if (i % 2 == 0) RoundToBf16(logits);
    if (i % 7 == 0)
      for (int j = 0; j < vocab / 100; ++j) logits[rng.Below(vocab)] = -INFINITY;
    if (i % 11 == 0) {
      const float top = *std::max_element(logits.begin(), logits.end());
      for (int j = 0; j < 5; ++j) logits[rng.Below(vocab)] = top;
    }
    duo::SamplingParams p{kTemps[rng.Below(10)], kTopKs[rng.Below(8)], kTopPs[rng.Below(5)], kPenalties[rng.Below(5)]};
    std::vector<int32_t> previous(rng.Below(3) == 0 ? 0 : 1 + rng.Below(200));
    for (int32_t& id : previous) id = rng.Below(vocab);
    float uniform = static_cast<float>(rng.Unit());
    if (uniform >= 1.0f) uniform = std::nextafter(1.0f, 0.0f);
    int32_t got = -99;
    if (!gpu.Sample(reporter, logits, p, previous, uniform, got)) return;
    const PortResult want = PortSample(logits, p, previous, uniform);
    ++cases;
    const bool cdf = want.cdf_margin < 1e-5;
    const bool nucleus = want.nucleus_margin < 1e-5;
    ambiguous_cdf += cdf;
    ambiguous_nucleus += nucleus;
    ambiguous_top_k += want.top_k_ambiguous;
    if (got == want.token) {
      ++same;
    } else if (cdf || nucleus || want.top_k_ambiguous) {
      ++mismatches_excused;
    } else {
      ++mismatches_unexplained;
      if (first_unexplained.empty())
        first_unexplained = "case " + std::to_string(i) + ": vocab " + std::to_string(vocab) + " T " + std::to_string(p.temperature) +
                            " k " + std::to_string(p.top_k) + " p " + std::to_string(p.top_p) + " pen " +
                            std::to_string(p.repetition_penalty) + " u " + std::to_string(uniform) + " got " + std::to_string(got) +
                            " want " + std::to_string(want.token);
    }
  }
  reporter.Case("Sample", "200-random-vs-float64-port", mismatches_unexplained == 0,
                Fields()
                    .Text("tolerance", "same token unless uniform within 1e-5 of a CDF boundary, or the nucleus sum within 1e-5*total of its target")
                    .Number("cases", cases)
                    .Number("same_token", same)
                    .Number("ambiguous_cdf", ambiguous_cdf)
                    .Number("ambiguous_nucleus", ambiguous_nucleus)
                    .Number("ambiguous_top_k", ambiguous_top_k)
                    .Number("mismatches_excused", mismatches_excused)
                    .Number("mismatches_unexplained", mismatches_unexplained)
                    .Text("first_unexplained", first_unexplained));

  // Error codes and edge rows.
  struct Edge {
    std::string name;
    std::vector<float> logits;
    duo::SamplingParams p;
    int expected;
  };
  std::vector<Edge> edges;
  {
    std::vector<float> v = RandomFloats(2048, 81, 3.0f);
    v[77] = NAN;
    edges.push_back({"nan-sample", v, {0.7f, 50, 0.9f, 1.0f}, duo::kSampleNaN});
    edges.push_back({"nan-greedy", v, {0.0f, 0, 1.0f, 1.0f}, duo::kSampleNaN});
    edges.push_back({"nan-full-vocab", v, {1.0f, 0, 1.0f, 1.0f}, duo::kSampleNaN});
    edges.push_back({"all-neg-inf-sample", std::vector<float>(2048, -INFINITY), {1.0f, 0, 0.9f, 1.0f}, duo::kSampleAllNegInf});
    edges.push_back({"all-neg-inf-greedy", std::vector<float>(2048, -INFINITY), {0.0f, 0, 1.0f, 1.0f}, 0});
    std::vector<float> flat(2048, 1.0f);
    edges.push_back({"all-equal-greedy", flat, {0.0f, 0, 1.0f, 1.0f}, 0});
    edges.push_back({"all-equal-top-k-1", flat, {1.0f, 1, 1.0f, 1.0f}, 0});
    std::vector<float> peak(2048, -30.0f);
    peak[1500] = 10.0f;
    edges.push_back({"one-token-mass", peak, {1.0f, 0, 0.5f, 1.0f}, 1500});
  }
  for (const Edge& e : edges) {
    int32_t got = -99;
    if (!gpu.Sample(reporter, e.logits, e.p, {}, 0.999f, got)) return;
    reporter.Case("Sample", e.name, got == e.expected, Fields().Number("got", got).Number("expected", e.expected));
  }

  if (reporter.Benchmarks()) {
    std::vector<float> v = RandomFloats(kMaxVocab, 91, 8.0f);
    RoundToBf16(v);
    std::vector<int32_t> prev(128);
    for (int j = 0; j < 128; ++j) prev[j] = (j * 7919) % kMaxVocab;
    cudaMemcpy(gpu.logits.As<void>(), v.data(), v.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(gpu.previous.As<void>(), prev.data(), prev.size() * 4, cudaMemcpyHostToDevice);
    struct Bench {
      const char* name;
      duo::SamplingParams p;
      int previous;
    };
    const Bench benches[] = {{"T0.7-k50-p0.9", {0.7f, 50, 0.9f, 1.0f}, 0},
                             {"T0.7-k50-p0.9-penalty1.1", {0.7f, 50, 0.9f, 1.1f}, 128},
                             {"T1-plain", {1.0f, 0, 1.0f, 1.0f}, 0},
                             {"T0.7-p0.9-full-vocab", {0.7f, 0, 0.9f, 1.0f}, 0},
                             {"T0.7-k2000", {0.7f, 2000, 1.0f, 1.0f}, 0},
                             {"greedy-penalty1.1", {0.0f, 0, 1.0f, 1.1f}, 128}};
    for (const Bench& b : benches) {
      const double ms = MedianMilliseconds([&] {
        return duo::LaunchSample(gpu.logits.As<float>(), kMaxVocab, b.p, b.previous ? gpu.previous.As<int32_t>() : nullptr, b.previous,
                                 0.37f, gpu.workspace.As<void>(), duo::SampleWorkspaceBytes(kMaxVocab), gpu.out.As<int32_t>(), nullptr);
      });
      const double bytes = kMaxVocab * 4.0;
      const double floor_ms = bytes / CopyBandwidth(reporter) * 1e3;
      reporter.Timing("Sample", std::string("vocab128256/") + b.name,
                      Fields().Number("ms", ms).Number("bytes", bytes).Number("floor_ms", floor_ms).Number("ratio", ms / floor_ms));
    }
  }
}
