// The addon's measureCopyBandwidth export (see copy_bandwidth_binding.cc).
#pragma once

#include <napi.h>

namespace duo {

Napi::Value MeasureCopyBandwidthBinding(const Napi::CallbackInfo& info);

}  // namespace duo
