// One whole decode step of CudaModel on the Llama-3-8B shape (random weights made on the GPU, a
// synthetic cache), timed from the host like the cuda backend's benchmark, with its floor (weight
// bytes + KV bytes read) / copy bandwidth. With DUO_PROFILE_STEP=1 the last step runs between
// cudaProfilerStart/Stop, so `ncu --profile-from-start off` records exactly that step's kernels
// (tools/device/run-gpu-tests.sh's `profile` step): the per-kernel times that explain the gap to
// the floor.
//
// Issue #18: each case runs once per decode mode on one model (SetDecodeOptions, the cache refilled
// between modes): eager (today's path), graphs (DUO_CUDA_GRAPHS), fused (DUO_CUDA_FUSED) and
// graphs+fused, so one run A/Bs them. Environment: DUO_DECODE_STEP_CONTEXTS (default
// "4096,131072"), DUO_DECODE_STEP_MODES (default all four), DUO_DECODE_STEP_CASE
// (<policy>_<context>, one case). A case that does not fit on the device is reported, not failed.
#include <cuda_profiler_api.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "checks/llama3_8b_shape.h"
#include "host/copy_bandwidth.h"
#include "host/cuda_model.h"

namespace {

using duo::checks::Fields;
using duo::checks::Reporter;

struct Policy {
  const char* name;
  double retrieval_fraction;  // of each layer's 8 KV heads
};

struct Mode {
  std::string name;
  bool graphs, fused;
};

std::vector<std::string> SplitList(const char* text, const char* fallback) {
  std::vector<std::string> parts;
  std::stringstream list(text != nullptr ? text : fallback);
  for (std::string part; std::getline(list, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

void BenchmarkDecodeStep(Reporter& reporter, const Policy& p, int context, const std::vector<Mode>& modes,
                         double bandwidth, bool profile) {
  const std::string name = std::string(p.name) + "_" + std::to_string(context);
  const duo::ModelShape shape = duo::checks::Llama3_8bShape();
  duo::PolicyShape policy;
  const int fr = static_cast<int>(p.retrieval_fraction * shape.num_kv_heads + 0.5);
  policy.retrieval_kv_heads.assign(shape.num_layers, fr);
  policy.sink = 64;
  policy.recent = 256;
  duo::ModelOptions options;
  options.max_tokens = context + 64;
  std::unique_ptr<duo::CudaModel> model;
  const duo::Status created = duo::CudaModel::Create(shape, policy, options, &model);
  if (!created.ok()) {
    // Full attention at 512K needs ~69 GB of cache next to 16 GB of weights: not on an 80 GB GPU.
    reporter.Timing("DecodeStep", name, Fields().Number("context", context).Text("skipped", created.message()));
    return;
  }
  if (!reporter.Ok(model->FillRandomWeights(7))) return;
  const int half = shape.head_dim / 2;
  std::vector<float> cos(half, 1.0f), sin(half, 0.0f);
  duo::SampleRequest greedy;
  for (const Mode& mode : modes) {
    if (!reporter.Ok(model->SetDecodeOptions(mode.graphs, mode.fused)) ||
        !reporter.Ok(model->FillSyntheticCache(0, context, 11)))
      return;
    const duo::DecodeStats before = model->decode_stats();
    int32_t id = 1;
    int length = context;
    const auto step = [&]() -> bool {
      int32_t next = 0;
      if (!reporter.Ok(model->ForwardSample(0, length, &id, 1, cos.data(), sin.data(), greedy, &next))) return false;
      id = next < 0 ? 1 : next;
      ++length;
      return true;
    };
    bool ok = true;
    for (int i = 0; i < 3 && ok; ++i) ok = step();
    std::vector<double> ms;
    for (int i = 0; i < 15 && ok; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      ok = step();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!ok) return;
    if (profile) {
      cudaProfilerStart();
      const bool profiled = step();
      cudaProfilerStop();
      if (!profiled) return;
    }
    std::sort(ms.begin(), ms.end());
    const duo::DecodeStats stats = model->decode_stats();
    const duo::ModelMemory memory = model->Memory();
    // Per token the step reads every weight once and each layer's cache up to the context: the
    // retrieval heads' `context` rows and the streaming heads' S + R rows, K and V, bf16.
    const double kv_read = 2.0 * shape.num_layers * shape.head_dim * 2 *
                           (static_cast<double>(fr) * context + (shape.num_kv_heads - fr) * (policy.sink + policy.recent));
    const double floor_ms = (static_cast<double>(memory.weight_bytes) + kv_read) / bandwidth * 1e3;
    reporter.Timing("DecodeStep", name + "_" + mode.name,
                    Fields()
                        .Text("policy", p.name)
                        .Text("mode", mode.name)
                        .Number("context", context)
                        .Number("ms", ms[ms.size() / 2])
                        .Number("min_ms", ms.front())
                        .Number("floor_ms", floor_ms)
                        .Number("ratio", ms[ms.size() / 2] / floor_ms)
                        .Number("weight_bytes", static_cast<double>(memory.weight_bytes))
                        .Number("kv_bytes_read", kv_read)
                        .Number("eager_steps", static_cast<double>(stats.eager_steps - before.eager_steps))
                        .Number("graph_replays", static_cast<double>(stats.graph_replays - before.graph_replays))
                        .Text("graph_error", stats.graph_error));
  }
}

}  // namespace

DUO_CHECK(DecodeStep) {
  if (!reporter.Benchmarks()) return;
  double bandwidth = 0, copy_ms = 0;
  if (!reporter.Ok(duo::MeasureCopyBandwidth(0, std::size_t{1} << 30, 20, &bandwidth, &copy_ms))) return;
  const char* only = std::getenv("DUO_DECODE_STEP_CASE");  // e.g. "full_4096": only that case (for ncu)
  const bool profile = std::getenv("DUO_PROFILE_STEP") != nullptr;
  std::vector<Mode> modes;
  for (const std::string& m : SplitList(std::getenv("DUO_DECODE_STEP_MODES"), "eager,graphs,fused,graphs+fused")) {
    if (m == "eager") modes.push_back({m, false, false});
    else if (m == "graphs") modes.push_back({m, true, false});
    else if (m == "fused") modes.push_back({m, false, true});
    else if (m == "graphs+fused") modes.push_back({m, true, true});
    else reporter.Ok(duo::Status::Error("DUO_DECODE_STEP_MODES: unknown mode " + m));
  }
  const Policy policies[] = {{"full", 1.0}, {"duo50", 0.5}, {"duo25", 0.25}};
  for (const Policy& p : policies) {
    for (const std::string& text : SplitList(std::getenv("DUO_DECODE_STEP_CONTEXTS"), "4096,131072")) {
      const int context = std::atoi(text.c_str());
      if (context < 1) {
        reporter.Ok(duo::Status::Error("DUO_DECODE_STEP_CONTEXTS: bad context " + text));
        return;
      }
      if (only != nullptr && std::string(p.name) + "_" + std::to_string(context) != only) continue;
      BenchmarkDecodeStep(reporter, p, context, modes, bandwidth, profile);
    }
  }
}
