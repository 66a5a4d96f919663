// Per-environment data of the addon: the constructors of its handle classes, so a worker that
// creates a handle on the JS thread can find its class.
#pragma once

#include <napi.h>

namespace duo {

struct AddonData {
  Napi::FunctionReference model;         // NativeModel
  Napi::FunctionReference gate_trainer;  // NativeGateTrainer
};

}  // namespace duo
