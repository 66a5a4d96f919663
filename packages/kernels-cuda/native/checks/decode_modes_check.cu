// Issue #18, steps 2 and 3 end to end: CudaModel's decode-step path (CUDA graphs, fused kernels, both)
// against today's eager path, on the same seeded random weights and synthetic cache. Each mode
// runs on a fresh model: decode steps across the streaming ring's wrap, then a 5-token chunk
// (which reallocates the scratch, so captured graphs must be re-captured), then more decode steps.
// Every step's fp32 logits are compared with the eager path's:
//   graphs                    bit-identical (the same kernels, replayed);
//   fused, fused + graphs     bit-identical when hidden <= 4096 (gemv_norm.cuh), else within
//                             kTolerance of max |logit|; fused + graphs bit-identical to fused.
// In the graph modes every decode step but the first after each (re)allocation must be a replay.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "host/cuda_model.h"

namespace {

using duo::checks::Fields;
using duo::checks::Reporter;

constexpr double kTolerance = 2e-2;  // of max |logit| for the fused modes where bit identity is not by design

struct Shape {
  const char* name;
  duo::ModelShape shape;
  std::vector<int> retrieval;  // per layer
  int sink, recent;
  int start;  // synthetic cache length before the first step
};

struct Mode {
  const char* name;
  bool graphs, fused;
};

struct Run {
  std::vector<std::vector<float>> logits;  // per forward
  duo::DecodeStats stats;
  bool ok = false;
};

/** RoPE angles of `position` (theta 500000), as the executor computes them (attention scaling 1). */
void Angles(int position, int head_dim, std::vector<float>* cos, std::vector<float>* sin) {
  const int half = head_dim / 2;
  cos->resize(half);
  sin->resize(half);
  for (int i = 0; i < half; ++i) {
    const double inv_freq = std::pow(500000.0, -2.0 * i / head_dim);
    cos->at(i) = static_cast<float>(std::cos(position * inv_freq));
    sin->at(i) = static_cast<float>(std::sin(position * inv_freq));
  }
}

Run RunMode(Reporter& reporter, const Shape& s, const Mode& mode) {
  Run run;
  duo::PolicyShape policy;
  policy.retrieval_kv_heads = s.retrieval;
  policy.sink = s.sink;
  policy.recent = s.recent;
  duo::ModelOptions options;
  options.max_tokens = 4096;
  options.decode_graphs = mode.graphs;
  options.fused_decode = mode.fused;
  std::unique_ptr<duo::CudaModel> model;
  if (!reporter.Ok(duo::CudaModel::Create(s.shape, policy, options, &model)) || !reporter.Ok(model->FillRandomWeights(5)) ||
      !reporter.Ok(model->FillSyntheticCache(0, s.start, 9))) {
    return run;
  }
  const int d = s.shape.head_dim;
  int length = s.start;
  std::vector<float> cos, sin, all_cos, all_sin;
  const auto forward = [&](const std::vector<int32_t>& ids) -> bool {
    all_cos.clear();
    all_sin.clear();
    for (std::size_t t = 0; t < ids.size(); ++t) {
      Angles(length + static_cast<int>(t), d, &cos, &sin);
      all_cos.insert(all_cos.end(), cos.begin(), cos.end());
      all_sin.insert(all_sin.end(), sin.begin(), sin.end());
    }
    std::vector<float> logits(s.shape.vocab);
    if (!reporter.Ok(model->Forward(0, length, ids.data(), static_cast<int>(ids.size()), all_cos.data(),
                                    all_sin.data(), false, logits.data())))
      return false;
    length += static_cast<int>(ids.size());
    run.logits.push_back(std::move(logits));
    return true;
  };
  for (int step = 0; step < 12; ++step) {
    if (!forward({(step * 7919 + 13) % s.shape.vocab})) return run;
  }
  if (!forward({3, 1, 4, 1, 5})) return run;  // grows the scratch to 5 rows: graphs re-captured
  for (int step = 0; step < 6; ++step) {
    if (!forward({(step * 104729 + 7) % s.shape.vocab})) return run;
  }
  run.stats = model->decode_stats();
  run.ok = true;
  return run;
}

}  // namespace

DUO_CHECK(DecodeStepModes) {
  std::vector<Shape> shapes;
  {
    // Llama-3-8B's layer shape (hidden 4096: the fused norm is bit-identical), 2 layers, one full
    // and one DuoAttention layer, a small vocabulary; window 64, so the 12 steps from 58 wrap it.
    duo::ModelShape shape;
    shape.num_layers = 2;
    shape.hidden = 4096;
    shape.num_q_heads = 32;
    shape.num_kv_heads = 8;
    shape.head_dim = 128;
    shape.intermediate = 14336;
    shape.vocab = 32000;
    shapes.push_back({"llama-layers", shape, {8, 2}, 4, 60, 58});
    shapes.push_back({"llama-layers from 0", shape, {8, 2}, 4, 60, 0});
  }
  {
    // hidden 1536 (norm order differs: tolerance), head_dim 64, G = 3, tied embeddings, one
    // streaming-only layer; window 32.
    duo::ModelShape shape;
    shape.num_layers = 3;
    shape.hidden = 1536;
    shape.num_q_heads = 12;
    shape.num_kv_heads = 4;
    shape.head_dim = 64;
    shape.intermediate = 4096;
    shape.vocab = 5000;
    shape.tied_embeddings = true;
    shapes.push_back({"narrow-tied", shape, {4, 1, 0}, 2, 30, 25});
  }
  const Mode modes[] = {{"graphs", true, false}, {"fused", false, true}, {"graphs+fused", true, true}};
  for (const Shape& s : shapes) {
    const Run eager = RunMode(reporter, s, {"eager", false, false});
    if (!eager.ok) continue;
    Run fused_eager;
    for (const Mode& mode : modes) {
      Run run = RunMode(reporter, s, mode);
      if (!run.ok) continue;
      // graphs+fused is compared with fused (must be bit-identical), the others with eager.
      const bool against_fused = mode.graphs && mode.fused && fused_eager.ok;
      const Run& reference = against_fused ? fused_eager : eager;
      const bool identity_required = !mode.fused || against_fused || s.shape.hidden <= 4096;
      bool identical = run.logits.size() == reference.logits.size();
      double max_abs = 0;
      double ref_max = 0;
      const std::size_t forwards = std::min(run.logits.size(), reference.logits.size());
      for (std::size_t f = 0; f < forwards; ++f) {
        const std::vector<float>& a = run.logits[f];
        const std::vector<float>& b = reference.logits[f];
        identical = identical && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
          max_abs = std::fmax(max_abs, std::fabs(static_cast<double>(a[i]) - b[i]));
          ref_max = std::fmax(ref_max, std::fabs(static_cast<double>(b[i])));
        }
      }
      const bool close = run.logits.size() == reference.logits.size() && max_abs <= kTolerance * ref_max;
      // 18 decode steps: the first runs eagerly (one-time launcher setup), the second captures;
      // the chunk reallocates the scratch, so the next step captures again (no eager step needed).
      const bool replayed = !mode.graphs || (run.stats.graph_error.empty() && run.stats.eager_steps == 1 &&
                                             run.stats.graph_replays == 17 && run.stats.graph_captures == 2);
      const bool passed = (identical || (!identity_required && close)) && replayed;
      reporter.Case("DecodeStepModes", std::string(s.name) + " " + mode.name, passed,
                    Fields()
                        .Text("compared_with", against_fused ? "fused" : "eager")
                        .Bool("bit_identical", identical)
                        .Bool("bit_identity_required", identity_required)
                        .Number("max_abs", max_abs)
                        .Number("ref_max_abs", ref_max)
                        .Number("eager_steps", static_cast<double>(run.stats.eager_steps))
                        .Number("graph_captures", static_cast<double>(run.stats.graph_captures))
                        .Number("graph_replays", static_cast<double>(run.stats.graph_replays))
                        .Text("graph_error", run.stats.graph_error));
      if (mode.fused && !mode.graphs) fused_eager = std::move(run);
    }
  }
}
