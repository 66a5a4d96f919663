#include "host/copy_bandwidth.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>
#include <vector>

#include "host/device_allocation.h"

namespace duo {

Status MeasureCopyBandwidth(int device, std::size_t bytes, int repetitions, double* bytes_per_second,
                            double* median_ms) {
  if (bytes == 0 || repetitions < 1) return Status::Error("copy bandwidth: bytes and repetitions must be positive");
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")"));
  DeviceAllocation source;
  DeviceAllocation target;
  DUO_RETURN_IF_ERROR(source.Allocate(bytes, "the copy-bandwidth source"));
  DUO_RETURN_IF_ERROR(target.Allocate(bytes, "the copy-bandwidth target"));
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaMemset(source.As<void>(), 0, bytes), "cudaMemset"));
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  DUO_RETURN_IF_ERROR(Status::Cuda(cudaEventCreate(&start), "cudaEventCreate"));
  Status status = Status::Cuda(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<float> times;
  for (int i = -2; i < repetitions && status.ok(); ++i) {  // two untimed warm-up copies
    float ms = 0;
    status = Status::Cuda(cudaEventRecord(start), "cudaEventRecord");
    if (status.ok()) status = Status::Cuda(cudaMemcpy(target.As<void>(), source.As<void>(), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy");
    if (status.ok()) status = Status::Cuda(cudaEventRecord(stop), "cudaEventRecord");
    if (status.ok()) status = Status::Cuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
    if (status.ok()) status = Status::Cuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    if (status.ok() && i >= 0) times.push_back(ms);
  }
  if (stop != nullptr) cudaEventDestroy(stop);
  cudaEventDestroy(start);
  DUO_RETURN_IF_ERROR(status);
  std::sort(times.begin(), times.end());
  *median_ms = times[times.size() / 2];
  *bytes_per_second = 2.0 * static_cast<double>(bytes) / (*median_ms * 1e-3);
  return Status::Ok();
}

}  // namespace duo
