// Host side of kernels/dependent_launch.cuh: asks the driver once per device.
#include "kernels/dependent_launch.cuh"

#include <mutex>
#include <vector>

namespace duo {

bool DependentLaunchSupported() {
  static std::mutex mutex;
  static std::vector<int> known;  // per device: -1 unknown, 0 no, 1 yes
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0) return false;
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<int>(known.size()) <= device) known.resize(device + 1, -1);
  if (known[device] < 0) {
    int major = 0;
    known[device] = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
  }
  return known[device] == 1;
}

}  // namespace duo
