// NCCL through our run-time loader (issue #16's all-reduce): one process drives every visible GPU
// (ncclCommInitAll), each rank's bf16 buffer holds small integers that sum exactly in bf16, and the
// all-reduced buffers must equal the sum bit for bit on every rank. World size 1 (one GPU) goes
// through the same calls, so a one-GPU machine checks the loader and the call sequence. With --bench,
// the latency of a decode step's all-reduce (one token's hidden state) and the bandwidth of a large one.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "checks/check_registry.h"
#include "host/device_allocation.h"
#include "host/nccl.h"

namespace {

using duo::DeviceAllocation;
using duo::Status;
using duo::checks::Fields;
using duo::checks::Reporter;
namespace nccl = duo::nccl;

/** Value i of rank r: (r + 1) * (i % 7), so any sum over <= 9 ranks is an integer below 256 (exact in bf16). */
float RankValue(int rank, std::size_t i) { return static_cast<float>((rank + 1) * static_cast<int>(i % 7)); }

/** Communicators, streams and buffers of `world` GPUs (devices 0..world-1). */
struct World {
  std::vector<nccl::ncclComm_t> comms;
  std::vector<cudaStream_t> streams;
  std::vector<DeviceAllocation> buffers;

  ~World() {
    const nccl::Api* api = nullptr;
    if (nccl::Load(&api).ok()) {
      for (nccl::ncclComm_t comm : comms) {
        if (comm != nullptr) api->CommDestroy(comm);
      }
    }
    for (std::size_t d = 0; d < streams.size(); ++d) {
      cudaSetDevice(static_cast<int>(d));
      if (streams[d] != nullptr) cudaStreamDestroy(streams[d]);
    }
  }
};

Status Open(const nccl::Api* api, int world, std::size_t count, World* out) {
  std::vector<int> devices(world);
  for (int d = 0; d < world; ++d) devices[d] = d;
  out->comms.assign(world, nullptr);
  DUO_RETURN_IF_ERROR(nccl::Check(api->CommInitAll(out->comms.data(), world, devices.data()), "ncclCommInitAll"));
  out->streams.assign(world, nullptr);
  out->buffers.resize(world);
  for (int d = 0; d < world; ++d) {
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaSetDevice(d), "cudaSetDevice"));
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaStreamCreate(&out->streams[d]), "cudaStreamCreate"));
    DUO_RETURN_IF_ERROR(out->buffers[d].Allocate(count * sizeof(__nv_bfloat16), "all-reduce buffer"));
  }
  return Status::Ok();
}

/** In-place bf16 sum over every rank of `world`, then a wait for all streams. */
Status AllReduce(const nccl::Api* api, World& world, std::size_t count) {
  DUO_RETURN_IF_ERROR(nccl::Check(api->GroupStart(), "ncclGroupStart"));
  for (std::size_t d = 0; d < world.comms.size(); ++d) {
    void* buffer = world.buffers[d].As<void>();
    DUO_RETURN_IF_ERROR(nccl::Check(
        api->AllReduce(buffer, buffer, count, nccl::ncclBfloat16, nccl::ncclSum, world.comms[d], world.streams[d]),
        "ncclAllReduce"));
  }
  DUO_RETURN_IF_ERROR(nccl::Check(api->GroupEnd(), "ncclGroupEnd"));
  for (std::size_t d = 0; d < world.streams.size(); ++d) {
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaSetDevice(static_cast<int>(d)), "cudaSetDevice"));
    DUO_RETURN_IF_ERROR(Status::Cuda(cudaStreamSynchronize(world.streams[d]), "cudaStreamSynchronize"));
  }
  return Status::Ok();
}

void CheckWorld(Reporter& reporter, const nccl::Api* api, int world_size) {
  const std::size_t count = 4096 * 33 + 5;  // 33 tokens of an 8B hidden state, plus an odd tail
  World world;
  if (!reporter.Ok(Open(api, world_size, count, &world))) return;
  for (int d = 0; d < world_size; ++d) {
    std::vector<float> values(count);
    for (std::size_t i = 0; i < count; ++i) values[i] = RankValue(d, i);
    const std::vector<uint16_t> bits = duo::checks::ToBf16Bits(values);
    if (!reporter.Ok(cudaSetDevice(d), "cudaSetDevice")) return;
    if (!reporter.Ok(cudaMemcpy(world.buffers[d].As<void>(), bits.data(), count * 2, cudaMemcpyHostToDevice), "cudaMemcpy"))
      return;
  }
  if (!reporter.Ok(AllReduce(api, world, count))) return;
  std::size_t differing = 0;
  for (int d = 0; d < world_size; ++d) {
    std::vector<uint16_t> bits(count);
    if (!reporter.Ok(cudaSetDevice(d), "cudaSetDevice")) return;
    if (!reporter.Ok(cudaMemcpy(bits.data(), world.buffers[d].As<void>(), count * 2, cudaMemcpyDeviceToHost), "cudaMemcpy"))
      return;
    const std::vector<float> got = duo::checks::FromBf16Bits(bits);
    for (std::size_t i = 0; i < count; ++i) {
      float expected = 0;
      for (int r = 0; r < world_size; ++r) expected += RankValue(r, i);
      if (got[i] != expected) ++differing;
    }
  }
  reporter.Case("NcclAllReduce", "world" + std::to_string(world_size), differing == 0,
                Fields()
                    .Number("world", world_size)
                    .Number("count", static_cast<double>(count))
                    .Number("differing", static_cast<double>(differing))
                    .Number("nccl_version", api->version)
                    .Text("library", api->path));
  if (!reporter.Benchmarks() || differing != 0) return;
  // A decode step all-reduces one token's hidden state twice per layer; prefill and batches more.
  for (const std::size_t elements : {std::size_t{4096}, std::size_t{4096} * 32, std::size_t{32} << 20}) {
    World timed;
    if (!reporter.Ok(Open(api, world_size, elements, &timed))) return;
    for (int i = 0; i < 3; ++i) {
      if (!reporter.Ok(AllReduce(api, timed, elements))) return;
    }
    std::vector<double> times;
    for (int i = 0; i < 20; ++i) {
      cudaEvent_t start = nullptr;
      cudaEvent_t stop = nullptr;
      cudaSetDevice(0);
      cudaEventCreate(&start);
      cudaEventCreate(&stop);
      cudaEventRecord(start, timed.streams[0]);
      const Status status = AllReduce(api, timed, elements);
      cudaSetDevice(0);
      cudaEventRecord(stop, timed.streams[0]);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      if (!reporter.Ok(status)) return;
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    const double ms = times[times.size() / 2];
    const double bytes = static_cast<double>(elements) * 2;
    // NCCL's bus bandwidth: algorithm bandwidth x 2 (n - 1) / n, comparable across world sizes.
    const double bus = world_size > 1 ? bytes / (ms * 1e-3) * 2.0 * (world_size - 1) / world_size : 0;
    reporter.Timing("NcclAllReduce", "world" + std::to_string(world_size) + "-" + std::to_string(elements),
                    Fields().Number("world", world_size).Number("bytes", bytes).Number("ms", ms).Number("bus_bytes_per_s", bus));
  }
}

}  // namespace

DUO_CHECK(NcclAllReduce) {
  const nccl::Api* api = nullptr;
  const Status loaded = nccl::Load(&api);
  if (!loaded.ok()) {
    reporter.Case("NcclAllReduce", "load", false, Fields().Text("error", loaded.message()));
    return;
  }
  int devices = 0;
  if (!reporter.Ok(cudaGetDeviceCount(&devices), "cudaGetDeviceCount")) return;
  CheckWorld(reporter, api, 1);
  if (devices > 1) CheckWorld(reporter, api, devices);
}
