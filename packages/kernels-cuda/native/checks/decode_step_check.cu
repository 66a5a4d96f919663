// One whole decode step of CudaModel on the Llama-3-8B shape (random weights made on the GPU, a
// synthetic cache), timed from the host like the cuda backend's benchmark, with its floor (weight
// bytes + KV bytes read) / copy bandwidth. With DUO_PROFILE_STEP=1 the last step runs between
// cudaProfilerStart/Stop, so `ncu --profile-from-start off` records exactly that step's kernels
// (tools/device/run-gpu-tests.sh's `profile` step): the per-kernel times that explain the gap to
// the floor.
#include <cuda_profiler_api.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "check_registry.h"
#include "host/copy_bandwidth.h"
#include "host/cuda_model.h"

namespace {

using duo::checks::Fields;
using duo::checks::Reporter;

struct StepCase {
  const char* policy;
  double retrieval_fraction;  // of each layer's 8 KV heads
  int context;
};

void BenchmarkDecodeStep(Reporter& reporter, const StepCase& c, double bandwidth, bool profile) {
  duo::ModelShape shape;
  shape.num_layers = 32;
  shape.hidden = 4096;
  shape.num_q_heads = 32;
  shape.num_kv_heads = 8;
  shape.head_dim = 128;
  shape.intermediate = 14336;
  shape.vocab = 128256;
  duo::PolicyShape policy;
  const int fr = static_cast<int>(c.retrieval_fraction * shape.num_kv_heads + 0.5);
  policy.retrieval_kv_heads.assign(shape.num_layers, fr);
  policy.sink = 64;
  policy.recent = 256;
  duo::ModelOptions options;
  options.max_tokens = c.context + 64;
  std::unique_ptr<duo::CudaModel> model;
  if (!reporter.Ok(duo::CudaModel::Create(shape, policy, options, &model)) || !reporter.Ok(model->FillRandomWeights(7)) ||
      !reporter.Ok(model->FillSyntheticCache(0, c.context, 11))) {
    return;
  }
  const int half = shape.head_dim / 2;
  std::vector<float> cos(half, 1.0f), sin(half, 0.0f);
  duo::SampleRequest greedy;
  int32_t id = 1;
  int length = c.context;
  const auto step = [&]() -> bool {
    int32_t next = 0;
    if (!reporter.Ok(model->ForwardSample(0, length, &id, 1, cos.data(), sin.data(), greedy, &next))) return false;
    id = next < 0 ? 1 : next;
    ++length;
    return true;
  };
  for (int i = 0; i < 3; ++i) {
    if (!step()) return;
  }
  std::vector<double> ms;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!step()) return;
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (profile) {
    cudaProfilerStart();
    const bool ok = step();
    cudaProfilerStop();
    if (!ok) return;
  }
  std::sort(ms.begin(), ms.end());
  const duo::ModelMemory memory = model->Memory();
  // Per token the step reads every weight once and each layer's cache up to the context: the
  // retrieval heads' `context` rows and the streaming heads' S + R rows, K and V, bf16.
  const double kv_read = 2.0 * shape.num_layers * shape.head_dim * 2 *
                         (static_cast<double>(fr) * c.context + (shape.num_kv_heads - fr) * (policy.sink + policy.recent));
  const double floor_ms = (static_cast<double>(memory.weight_bytes) + kv_read) / bandwidth * 1e3;
  reporter.Timing("DecodeStep", std::string(c.policy) + "_" + std::to_string(c.context),
                  Fields()
                      .Number("context", c.context)
                      .Number("ms", ms[ms.size() / 2])
                      .Number("min_ms", ms.front())
                      .Number("floor_ms", floor_ms)
                      .Number("ratio", ms[ms.size() / 2] / floor_ms)
                      .Number("weight_bytes", static_cast<double>(memory.weight_bytes))
                      .Number("kv_bytes_read", kv_read));
}

}  // namespace

DUO_CHECK(DecodeStep) {
  if (!reporter.Benchmarks()) return;
  double bandwidth = 0, copy_ms = 0;
  if (!reporter.Ok(duo::MeasureCopyBandwidth(0, std::size_t{1} << 30, 20, &bandwidth, &copy_ms))) return;
  const char* only = std::getenv("DUO_DECODE_STEP_CASE");  // e.g. "full_4096": only that case (for ncu)
  const bool profile = std::getenv("DUO_PROFILE_STEP") != nullptr;
  const StepCase cases[] = {{"full", 1.0, 4096},    {"full", 1.0, 131072},  {"duo50", 0.5, 4096},
                            {"duo50", 0.5, 131072}, {"duo25", 0.25, 4096}, {"duo25", 0.25, 131072}};
  for (const StepCase& c : cases) {
    if (only != nullptr && std::string(c.policy) + "_" + std::to_string(c.context) != only) continue;
    BenchmarkDecodeStep(reporter, c, bandwidth, profile);
  }
}
