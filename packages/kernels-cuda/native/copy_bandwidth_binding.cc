// measureCopyBandwidth(device, bytes) -> Promise<{ bytesPerSecond, medianMs, bytes }>: the floor the
// benchmarks divide by (host/copy_bandwidth.h), measured off the JS thread.
#include "copy_bandwidth_binding.h"

#include <cmath>
#include <string>

#include "cuda_worker.h"
#include "host/copy_bandwidth.h"

namespace duo {
namespace {

class CopyBandwidthWorker : public CudaWorker {
 public:
  CopyBandwidthWorker(Napi::Env env, int device, std::size_t bytes) : CudaWorker(env), device_(device), bytes_(bytes) {}

 protected:
  void Execute() override { CheckStatus(MeasureCopyBandwidth(device_, bytes_, 10, &bytes_per_second_, &median_ms_)); }
  Napi::Value Result() override {
    Napi::Object out = Napi::Object::New(Env());
    out.Set("bytesPerSecond", bytes_per_second_);
    out.Set("medianMs", median_ms_);
    out.Set("bytes", static_cast<double>(bytes_));
    return out;
  }

 private:
  int device_;
  std::size_t bytes_;
  double bytes_per_second_ = 0;
  double median_ms_ = 0;
};

}  // namespace

Napi::Value MeasureCopyBandwidthBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "measureCopyBandwidth(device, bytes): two numbers expected");
  }
  const double device = info[0].As<Napi::Number>().DoubleValue();
  const double bytes = info[1].As<Napi::Number>().DoubleValue();
  if (!(device >= 0 && device <= 1024) || std::floor(device) != device) {
    throw Napi::RangeError::New(env, "device must be an integer in [0, 1024], got " + std::to_string(device));
  }
  if (!(bytes >= 1 && bytes <= 1e12) || std::floor(bytes) != bytes) {
    throw Napi::RangeError::New(env, "bytes must be an integer in [1, 1e12], got " + std::to_string(bytes));
  }
  auto* worker = new CopyBandwidthWorker(env, static_cast<int>(device), static_cast<std::size_t>(bytes));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace duo
