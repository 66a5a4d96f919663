// Issue #18, step 1: the decode kernels that read the per-token lengths from device memory (so a
// step captured once as a CUDA graph replays for every token) must give bit-identical results to
// the launches that take them by value. For every shape family of decode_attention_check.cu, one
// CUDA graph is captured with the device-lengths launch (decode attention with the fused KV append,
// and separately LaunchKvAppendAt), then replayed at several lengths, each compared bit for bit
// with LaunchDecodeAttention + LaunchKvAppend by value on an identical copy of the caches: the
// attention output and every byte of both caches afterwards.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "checks/check_registry.h"
#include "device_buffer.h"
#include "kernels/decode_attention.cuh"
#include "kernels/kv_append.cuh"

namespace {

using namespace duo::checks;

struct Family {
  std::string name;
  int hq, hkv, fr, d;
  int sink, recent;
  int capacity;               // retrieval rows allocated (the lengths' upper bound + 1)
  std::vector<int> lengths;   // positions c replayed (each must be < capacity)
  bool small_workspace;       // workspace for 1 SM: fewer splits than the grid would allow
};

/** Device copies of one layer's caches. */
struct Caches {
  duo::DeviceBuffer rk, rv, sk, sv;
};

bool Upload(Reporter& reporter, Caches& caches, const std::vector<uint16_t>& r, const std::vector<uint16_t>& s) {
  const std::size_t rb = std::max<std::size_t>(r.size() * 2, 16);
  const std::size_t sb = std::max<std::size_t>(s.size() * 2, 16);
  if (!reporter.Ok(caches.rk.Allocate(rb), "cudaMalloc") || !reporter.Ok(caches.rv.Allocate(rb), "cudaMalloc") ||
      !reporter.Ok(caches.sk.Allocate(sb), "cudaMalloc") || !reporter.Ok(caches.sv.Allocate(sb), "cudaMalloc"))
    return false;
  // K and V share the random bits here (different rows are what matters for the comparison).
  bool ok = true;
  ok = ok && reporter.Ok(cudaMemcpy(caches.rk.As<void>(), r.data(), r.size() * 2, cudaMemcpyHostToDevice), "copy");
  ok = ok && reporter.Ok(cudaMemcpy(caches.rv.As<void>(), r.data(), r.size() * 2, cudaMemcpyHostToDevice), "copy");
  ok = ok && reporter.Ok(cudaMemcpy(caches.sk.As<void>(), s.data(), s.size() * 2, cudaMemcpyHostToDevice), "copy");
  ok = ok && reporter.Ok(cudaMemcpy(caches.sv.As<void>(), s.data(), s.size() * 2, cudaMemcpyHostToDevice), "copy");
  return ok;
}

bool Download(Reporter& reporter, const duo::DeviceBuffer& buffer, std::size_t count, std::vector<uint16_t>* out) {
  // (outputs only; caches are compared slice by slice below)
  out->resize(count);
  return reporter.Ok(cudaMemcpy(out->data(), buffer.As<void>(), count * 2, cudaMemcpyDeviceToHost), "download");
}

int DeviceSms(Reporter& reporter) {
  int device = 0;
  int sms = 0;
  if (!reporter.Ok(cudaGetDevice(&device), "cudaGetDevice")) return 0;
  if (!reporter.Ok(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute"))
    return 0;
  return sms;
}

void RunFamily(Reporter& reporter, const Family& f, int sms, uint64_t seed) {
  const int fs = f.hkv - f.fr;
  const int window = f.sink + f.recent;
  const std::size_t r_count = static_cast<std::size_t>(f.capacity) * f.fr * f.d;
  const std::size_t s_count = static_cast<std::size_t>(window) * fs * f.d;
  const std::size_t qkv_count = static_cast<std::size_t>(f.hq + 2 * f.hkv) * f.d;
  const std::size_t out_count = static_cast<std::size_t>(f.hq) * f.d;
  const std::vector<uint16_t> r_bits = ToBf16Bits(RandomFloats(r_count, seed, 4.0f));
  const std::vector<uint16_t> s_bits = ToBf16Bits(RandomFloats(s_count, seed + 1, 4.0f));

  Caches by_value, on_device, append_at;  // three identical copies, each advanced by its own path
  if (!Upload(reporter, by_value, r_bits, s_bits) || !Upload(reporter, on_device, r_bits, s_bits) ||
      !Upload(reporter, append_at, r_bits, s_bits))
    return;
  const std::size_t workspace_bytes = duo::DecodeAttentionWorkspaceBytes(f.capacity, f.hq, f.d, f.small_workspace ? 1 : sms);
  duo::DeviceBuffer qkv, out_value, out_device, ws_value, ws_device, lengths;
  if (!reporter.Ok(qkv.Allocate(qkv_count * 2), "cudaMalloc") || !reporter.Ok(out_value.Allocate(out_count * 2), "cudaMalloc") ||
      !reporter.Ok(out_device.Allocate(out_count * 2), "cudaMalloc") ||
      !reporter.Ok(ws_value.Allocate(workspace_bytes), "cudaMalloc") ||
      !reporter.Ok(ws_device.Allocate(workspace_bytes), "cudaMalloc") ||
      !reporter.Ok(lengths.Allocate(sizeof(duo::DecodeLengths)), "cudaMalloc"))
    return;
  cudaStream_t stream = nullptr;
  if (!reporter.Ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate")) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(f.d));

  auto args_for = [&](Caches& caches, duo::DeviceBuffer& out, int retrieval_len, int streaming_len) {
    duo::DecodeAttentionArgs args{};
    args.qkv = qkv.As<__nv_bfloat16>();
    args.retrieval_k = f.fr > 0 ? caches.rk.As<__nv_bfloat16>() : nullptr;
    args.retrieval_v = f.fr > 0 ? caches.rv.As<__nv_bfloat16>() : nullptr;
    args.retrieval_len = retrieval_len;
    args.streaming_k = fs > 0 ? caches.sk.As<__nv_bfloat16>() : nullptr;
    args.streaming_v = fs > 0 ? caches.sv.As<__nv_bfloat16>() : nullptr;
    args.streaming_len = streaming_len;
    args.num_q_heads = f.hq;
    args.num_kv_heads = f.hkv;
    args.num_retrieval_kv_heads = f.fr;
    args.head_dim = f.d;
    args.scale = scale;
    args.out = out.As<__nv_bfloat16>();
    return args;
  };

  // The graph: decode attention with device lengths and the fused append (upper bounds: the
  // capacity), then, on the third copy of the caches, the device-position KV append.
  duo::DecodeAttentionArgs graph_args = args_for(on_device, out_device, f.capacity - 1, window);
  graph_args.device_lengths = lengths.As<duo::DecodeLengths>();
  graph_args.append.enabled = true;
  graph_args.append.retrieval_k = graph_args.retrieval_k == nullptr ? nullptr : on_device.rk.As<__nv_bfloat16>();
  graph_args.append.retrieval_v = graph_args.retrieval_v == nullptr ? nullptr : on_device.rv.As<__nv_bfloat16>();
  graph_args.append.streaming_k = fs > 0 ? on_device.sk.As<__nv_bfloat16>() : nullptr;
  graph_args.append.streaming_v = fs > 0 ? on_device.sv.As<__nv_bfloat16>() : nullptr;
  graph_args.append.sink = f.sink;
  graph_args.append.recent = f.recent;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  if (!reporter.Ok(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture")) return;
  const cudaError_t attention_launch =
      duo::LaunchDecodeAttention(graph_args, ws_device.As<void>(), workspace_bytes, sms, stream);
  const cudaError_t append_launch = duo::LaunchKvAppendAt(
      qkv.As<__nv_bfloat16>(), lengths.As<duo::DecodeLengths>(), f.hq, f.hkv, f.fr, f.d,
      f.fr > 0 ? append_at.rk.As<__nv_bfloat16>() : nullptr, f.fr > 0 ? append_at.rv.As<__nv_bfloat16>() : nullptr,
      fs > 0 ? append_at.sk.As<__nv_bfloat16>() : nullptr, fs > 0 ? append_at.sv.As<__nv_bfloat16>() : nullptr, f.sink,
      f.recent, stream);
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (!reporter.Ok(attention_launch, "LaunchDecodeAttention(device lengths, captured)") ||
      !reporter.Ok(append_launch, "LaunchKvAppendAt(captured)") || !reporter.Ok(end, "cudaStreamEndCapture") ||
      !reporter.Ok(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate")) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
    return;
  }

  for (const int c : f.lengths) {
    const int streaming_len = std::min(c, window);
    // Fresh random q|k|v per step, as a real step's RoPE output.
    const std::vector<uint16_t> qkv_bits = ToBf16Bits(RandomFloats(qkv_count, seed + 7 + c, 2.0f));
    const duo::DecodeLengths host_lengths{f.fr > 0 ? c : 0, streaming_len, c, 0};
    bool ok = reporter.Ok(cudaMemcpyAsync(qkv.As<void>(), qkv_bits.data(), qkv_count * 2, cudaMemcpyHostToDevice, stream),
                          "copy qkv") &&
              reporter.Ok(cudaMemcpyAsync(lengths.As<void>(), &host_lengths, sizeof host_lengths,
                                          cudaMemcpyHostToDevice, stream),
                          "copy lengths");
    // By value: today's two launches.
    const duo::DecodeAttentionArgs value_args = args_for(by_value, out_value, c, streaming_len);
    ok = ok && reporter.Ok(duo::LaunchDecodeAttention(value_args, ws_value.As<void>(), workspace_bytes, sms, stream),
                           "LaunchDecodeAttention(by value)");
    ok = ok && reporter.Ok(duo::LaunchKvAppend(qkv.As<__nv_bfloat16>(), 1, c, f.hq, f.hkv, f.fr, f.d,
                                               value_args.retrieval_k == nullptr ? nullptr : by_value.rk.As<__nv_bfloat16>(),
                                               value_args.retrieval_v == nullptr ? nullptr : by_value.rv.As<__nv_bfloat16>(),
                                               fs > 0 ? by_value.sk.As<__nv_bfloat16>() : nullptr,
                                               fs > 0 ? by_value.sv.As<__nv_bfloat16>() : nullptr, f.sink, f.recent, stream),
                           "LaunchKvAppend(by value)");
    ok = ok && reporter.Ok(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
    ok = ok && reporter.Ok(cudaStreamSynchronize(stream), "step " + std::to_string(c));
    if (!ok) break;
    std::vector<uint16_t> a, b, x;
    if (!Download(reporter, out_value, out_count, &a) || !Download(reporter, out_device, out_count, &b)) break;
    const bool out_same = a == b;
    // Per step: the streaming caches whole (small) and the retrieval row this token took; after the
    // last step the retrieval caches whole (a write anywhere else would show there).
    const bool last = c == f.lengths.back();
    bool caches_same = true;
    bool append_at_same = true;
    const std::size_t row = static_cast<std::size_t>(f.fr) * f.d;
    const std::size_t r_first = last ? 0 : static_cast<std::size_t>(c) * row;
    const std::size_t r_len = last ? r_count : row;
    struct Slice {
      const duo::DeviceBuffer* copies[3];
      std::size_t first, count;
    };
    const Slice slices[4] = {{{&by_value.rk, &on_device.rk, &append_at.rk}, r_first, r_len},
                             {{&by_value.rv, &on_device.rv, &append_at.rv}, r_first, r_len},
                             {{&by_value.sk, &on_device.sk, &append_at.sk}, 0, s_count},
                             {{&by_value.sv, &on_device.sv, &append_at.sv}, 0, s_count}};
    for (const Slice& slice : slices) {
      if (slice.count == 0) continue;
      std::vector<uint16_t>* targets[3] = {&a, &b, &x};
      for (int i = 0; i < 3; ++i) {
        targets[i]->resize(slice.count);
        if (!reporter.Ok(cudaMemcpy(targets[i]->data(), slice.copies[i]->As<uint16_t>() + slice.first,
                                    slice.count * 2, cudaMemcpyDeviceToHost),
                         "download cache"))
          return;
      }
      caches_same = caches_same && a == b;
      append_at_same = append_at_same && a == x;
    }
    reporter.Case("DecodeDeviceLengths", f.name + " c" + std::to_string(c), out_same && caches_same && append_at_same,
                  Fields()
                      .Bool("attention_bit_identical", out_same)
                      .Bool("fused_append_caches_bit_identical", caches_same)
                      .Bool("kv_append_at_bit_identical", append_at_same)
                      .Bool("whole_retrieval_cache_compared", last)
                      .Number("workspace_bytes", static_cast<double>(workspace_bytes)));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace

DUO_CHECK(DecodeDeviceLengths) {
  const int sms = DeviceSms(reporter);
  if (sms <= 0) return;
  // Lengths cover: no past, one row, inside the sinks, the ring filling, wrapping, many splits.
  const std::vector<int> toy_lengths = {0, 1, 5, 15, 16, 17, 79, 80, 81, 300, 2048};
  const std::vector<int> llama_lengths = {0, 1, 63, 64, 320, 321, 4097, 20000};
  std::vector<Family> families;
  for (const int fr : {0, 2, 4}) {
    families.push_back({"toy d32 hq8 hkv4 fr" + std::to_string(fr), 8, 4, fr, 32, 16, 64, 2049, toy_lengths, false});
  }
  for (const int fr : {8, 4, 2, 0}) {
    families.push_back(
        {"llama d128 hq32 hkv8 fr" + std::to_string(fr), 32, 8, fr, 128, 64, 256, 20001, llama_lengths, false});
  }
  families.push_back({"llama fr2 small-workspace", 32, 8, 2, 128, 64, 256, 20001, llama_lengths, true});
  families.push_back({"llama fr4 no ring (R0)", 32, 8, 4, 128, 64, 0, 5000, {0, 63, 64, 65, 4999}, false});
  families.push_back({"d64 hq4 hkv4 fr2 (G1)", 4, 4, 2, 64, 4, 29, 1000, {0, 3, 33, 34, 999}, false});
  families.push_back({"d64 hq24 hkv3 fr1 (G8)", 24, 3, 1, 64, 16, 64, 800, {0, 80, 81, 777}, false});
  families.push_back({"d128 hq12 hkv2 fr1 (G6)", 12, 2, 1, 128, 16, 64, 3001, {0, 79, 80, 3000}, false});
  uint64_t seed = 9100;
  for (const Family& f : families) RunFamily(reporter, f, sms, seed += 100);
}
