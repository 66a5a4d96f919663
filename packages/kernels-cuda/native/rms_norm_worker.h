// rmsNorm() and rmsNormF32(): one-shot RMSNorm of host arrays on the GPU (allocate, copy, launch,
// copy back, free). A building block and a kernel test harness, not the backend's resident path.
#pragma once

#include <napi.h>

namespace duo {

/** JS: rmsNorm(input: Uint16Array bf16 [rows*cols], weight: Uint16Array bf16 [cols], rows, cols, eps). */
Napi::Value RmsNormBf16(const Napi::CallbackInfo& info);

/** JS: rmsNormF32(input: Float32Array [rows*cols], weight: Float32Array [cols], rows, cols, eps). */
Napi::Value RmsNormF32(const Napi::CallbackInfo& info);

}  // namespace duo
