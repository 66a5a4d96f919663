// W8A8 linear layers on the GPU, bit for bit core's quant/int8-activations.ts and w8a8-linear.ts:
//
//   activations, per token (row), dynamic:  scale = f32(max|x| / 127)
//                                            code  = clamp(roundHalfToEven(f32(x / scale)), −127, 127)
//                                                    (0 for an all-zero row)
//   weights, per output channel (packed once on the host, int8-weights.ts): codes [n, k] int8,
//     scales [n] float32 (each a binary16 value, as Int8Linear.scale holds them)
//   product:   acc[t, o] = Σ_i x_code[t, i] · w_code[o, i]        (exact, int32)
//   epilogue:  y[t, o] = f32(f32(f32(acc) · w_scale[o]) · x_scale[t])  (+ bias[o], in float32)
//
// Every float operation is an explicitly rounded intrinsic, so the results equal linearW8A8's
// float32 values exactly (then rounded once to bf16 for a bf16 output).
// Decode (m <= 8) runs our dp4a GEMV here; prefill runs cuBLASLt's int8 tensor-core GEMM into an
// int32 buffer and then LaunchInt8Epilogue (host/int8_gemm.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace duo {

/** Largest m the dp4a GEMV takes. */
constexpr int kInt8GemvMaxRows = 8;

/** Output element type of the int8 linear kernels. */
enum class Int8Output : int { kBf16 = 0, kF32 = 1 };

/**
 * Quantizes each row of x ([rows, features], bf16 or f32, row stride `features`) to int8 codes
 * [rows, features] and float32 scales [rows]. Inputs must be finite. Returns cudaErrorInvalidValue
 * for a bad argument, else the launch error.
 */
cudaError_t LaunchInt8QuantizeRows(const __nv_bfloat16* x, int rows, int features, int8_t* codes, float* scales,
                                   cudaStream_t stream);
cudaError_t LaunchInt8QuantizeRowsF32(const float* x, int rows, int features, int8_t* codes, float* scales,
                                      cudaStream_t stream);

/** True when LaunchInt8Gemv accepts the shape: 1 <= m <= 8, n >= 1, k >= 16, k % 16 == 0, x and w 16-byte aligned. */
bool Int8GemvSupported(const void* x_codes, const void* w_codes, int m, int n, int k);

/**
 * y[m, n] = epilogue(x_codes[m, k] · w_codes[n, k]^T) with the rule above; bias [n] float32 or null.
 * y is bf16 or f32 per out_type, row stride n. Returns cudaErrorInvalidValue when
 * !Int8GemvSupported(...), else the launch error.
 */
cudaError_t LaunchInt8Gemv(const int8_t* x_codes, const float* x_scales, const int8_t* w_codes, const float* w_scales,
                           const float* bias, void* y, Int8Output out_type, int m, int n, int k, cudaStream_t stream);

/** The epilogue alone, on an int32 product acc [m, n] (row stride n) from the int8 GEMM. */
cudaError_t LaunchInt8Epilogue(const int32_t* acc, const float* x_scales, const float* w_scales, const float* bias,
                               void* y, Int8Output out_type, int m, int n, cudaStream_t stream);

}  // namespace duo
