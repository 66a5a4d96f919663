// deviceInfo(): which CUDA devices this process can see. The availability check in TS rests on it.
#pragma once

#include <napi.h>

namespace duo {

/** JS: deviceInfo() -> Promise<{deviceCount, driverVersion, runtimeVersion, devices: [...]}>. */
Napi::Value DeviceInfo(const Napi::CallbackInfo& info);

}  // namespace duo
