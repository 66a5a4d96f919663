// Enumerates CUDA devices off the JS thread. With no driver or no GPU, cudaGetDeviceCount fails and
// the promise rejects with that CUDA error (plus the driver version seen, 0 when no driver loads).
#include "device_info.h"

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "cuda_worker.h"

namespace duo {
namespace {

struct DeviceRecord {
  int index = 0;
  std::string name;
  double total_memory_bytes = 0;
  int major = 0;
  int minor = 0;
  int multiprocessors = 0;
};

class DeviceInfoWorker : public CudaWorker {
 public:
  using CudaWorker::CudaWorker;

 protected:
  void Execute() override {
    // cudaDriverGetVersion reports 0 (and succeeds) when libcuda.so.1 cannot be loaded.
    if (cudaDriverGetVersion(&driver_version_) != cudaSuccess) driver_version_ = 0;
    if (!Check(cudaRuntimeGetVersion(&runtime_version_), "cudaRuntimeGetVersion")) return;
    int count = 0;
    if (!Check(cudaGetDeviceCount(&count), "cudaGetDeviceCount")) return;
    for (int index = 0; index < count; ++index) {
      cudaDeviceProp prop{};
      if (!Check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties")) return;
      DeviceRecord record;
      record.index = index;
      record.name = prop.name;
      record.total_memory_bytes = static_cast<double>(prop.totalGlobalMem);
      record.major = prop.major;
      record.minor = prop.minor;
      record.multiprocessors = prop.multiProcessorCount;
      devices_.push_back(record);
    }
  }

  Napi::Value Result() override {
    Napi::Env env = Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("deviceCount", Napi::Number::New(env, static_cast<double>(devices_.size())));
    result.Set("driverVersion", Napi::Number::New(env, driver_version_));
    result.Set("runtimeVersion", Napi::Number::New(env, runtime_version_));
    Napi::Array devices = Napi::Array::New(env, devices_.size());
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      const DeviceRecord& record = devices_[i];
      Napi::Object device = Napi::Object::New(env);
      device.Set("index", Napi::Number::New(env, record.index));
      device.Set("name", Napi::String::New(env, record.name));
      device.Set("totalMemoryBytes", Napi::Number::New(env, record.total_memory_bytes));
      device.Set("computeCapability",
                 Napi::String::New(env, std::to_string(record.major) + "." + std::to_string(record.minor)));
      device.Set("multiprocessors", Napi::Number::New(env, record.multiprocessors));
      devices.Set(static_cast<uint32_t>(i), device);
    }
    result.Set("devices", devices);
    return result;
  }

  void DecorateError(Napi::Object error) override {
    error.Set("driverVersion", Napi::Number::New(Env(), driver_version_));
  }

 private:
  int driver_version_ = 0;
  int runtime_version_ = 0;
  std::vector<DeviceRecord> devices_;
};

}  // namespace

Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  auto* worker = new DeviceInfoWorker(info.Env());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace duo
