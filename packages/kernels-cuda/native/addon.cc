// Entry point of duo_kernels.node: registers the exports and nothing else. abiVersion changes
// whenever an export's signature changes, so the TS loader can refuse a stale build.
#include <cuda_runtime_api.h>
#include <napi.h>

#include "addon_data.h"
#include "copy_bandwidth_binding.h"
#include "device_info.h"
#include "gate_trainer_binding.h"
#include "model_binding.h"
#include "rms_norm_worker.h"

namespace {

constexpr int kAbiVersion = 4;  // 3: NativeModel.forwardSample; 4: createGateTrainer

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("cudaRuntimeVersion", Napi::Number::New(env, CUDART_VERSION));
  exports.Set("deviceInfo", Napi::Function::New(env, duo::DeviceInfo, "deviceInfo"));
  exports.Set("rmsNorm", Napi::Function::New(env, duo::RmsNormBf16, "rmsNorm"));
  exports.Set("rmsNormF32", Napi::Function::New(env, duo::RmsNormF32, "rmsNormF32"));
  exports.Set("measureCopyBandwidth",
              Napi::Function::New(env, duo::MeasureCopyBandwidthBinding, "measureCopyBandwidth"));
  env.SetInstanceData<duo::AddonData>(new duo::AddonData());
  duo::RegisterModelBinding(env, exports);
  duo::RegisterGateTrainerBinding(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(duo_kernels, Init)
