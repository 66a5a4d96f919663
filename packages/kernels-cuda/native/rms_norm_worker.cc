// Runs one RMSNorm on the GPU off the JS thread. The JS arrays stay referenced until the promise
// settles, are read and written in place by the worker, and must not be changed meanwhile.
#include "rms_norm_worker.h"

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_stream.h"
#include "cuda_worker.h"
#include "device_buffer.h"
#include "kernels/rms_norm.cuh"

namespace duo {
namespace {

/** The host element type, its device type, the TypedArray kind JS must pass, and the launcher. */
struct Bf16Traits {
  using Host = uint16_t;
  using Device = __nv_bfloat16;
  static constexpr napi_typedarray_type kArrayType = napi_uint16_array;
  static constexpr const char* kArrayName = "Uint16Array (bf16 bits)";
  static cudaError_t Launch(const Device* in, const Device* w, Device* out, int64_t rows, int cols,
                            float eps, cudaStream_t stream) {
    return LaunchRmsNormBf16(in, w, out, rows, cols, eps, stream);
  }
};

struct F32Traits {
  using Host = float;
  using Device = float;
  static constexpr napi_typedarray_type kArrayType = napi_float32_array;
  static constexpr const char* kArrayName = "Float32Array";
  static cudaError_t Launch(const Device* in, const Device* w, Device* out, int64_t rows, int cols,
                            float eps, cudaStream_t stream) {
    return LaunchRmsNormF32(in, w, out, rows, cols, eps, stream);
  }
};

template <typename Traits>
class RmsNormWorker : public CudaWorker {
  using Host = typename Traits::Host;
  using Device = typename Traits::Device;

 public:
  RmsNormWorker(Napi::Env env, Napi::TypedArray input, Napi::TypedArray weight, int64_t rows, int cols,
                float eps)
      : CudaWorker(env), rows_(rows), cols_(cols), eps_(eps) {
    const std::size_t count = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
    Napi::TypedArrayOf<Host> output = Napi::TypedArrayOf<Host>::New(env, count);
    input_data_ = static_cast<const Host*>(ElementData(input));
    weight_data_ = static_cast<const Host*>(ElementData(weight));
    output_data_ = output.Data();
    input_ref_ = Napi::Persistent(input);
    weight_ref_ = Napi::Persistent(weight);
    output_ref_ = Napi::Persistent(static_cast<Napi::TypedArray>(output));
  }

 protected:
  void Execute() override {
    const std::size_t count = static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_);
    const std::size_t matrix_bytes = count * sizeof(Device);
    const std::size_t weight_bytes = static_cast<std::size_t>(cols_) * sizeof(Device);
    CudaStream stream;
    DeviceBuffer input;
    DeviceBuffer weight;
    DeviceBuffer output;
    if (!Check(stream.Create(), "cudaStreamCreateWithFlags")) return;
    if (!Check(input.Allocate(matrix_bytes), "cudaMalloc(input)")) return;
    if (!Check(weight.Allocate(weight_bytes), "cudaMalloc(weight)")) return;
    if (!Check(output.Allocate(matrix_bytes), "cudaMalloc(output)")) return;
    if (!Check(cudaMemcpyAsync(input.As<void>(), input_data_, matrix_bytes, cudaMemcpyHostToDevice,
                               stream.Get()),
               "cudaMemcpyAsync(input)"))
      return;
    if (!Check(cudaMemcpyAsync(weight.As<void>(), weight_data_, weight_bytes, cudaMemcpyHostToDevice,
                               stream.Get()),
               "cudaMemcpyAsync(weight)"))
      return;
    if (!Check(Traits::Launch(input.As<Device>(), weight.As<Device>(), output.As<Device>(), rows_, cols_,
                              eps_, stream.Get()),
               "rms_norm kernel launch"))
      return;
    if (!Check(cudaMemcpyAsync(output_data_, output.As<void>(), matrix_bytes, cudaMemcpyDeviceToHost,
                               stream.Get()),
               "cudaMemcpyAsync(output)"))
      return;
    Check(cudaStreamSynchronize(stream.Get()), "cudaStreamSynchronize");
  }

  Napi::Value Result() override { return output_ref_.Value(); }

 private:
  static void* ElementData(const Napi::TypedArray& array) {
    return static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  }

  int64_t rows_;
  int cols_;
  float eps_;
  const Host* input_data_ = nullptr;
  const Host* weight_data_ = nullptr;
  Host* output_data_ = nullptr;
  Napi::Reference<Napi::TypedArray> input_ref_;
  Napi::Reference<Napi::TypedArray> weight_ref_;
  Napi::Reference<Napi::TypedArray> output_ref_;
};

/** Reads argument `index` as an integer in [min, max]; throws a RangeError naming it otherwise. */
double IntegerArgument(const Napi::CallbackInfo& info, std::size_t index, const char* name, double min,
                       double max) {
  if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  const double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= min && value <= max) || std::floor(value) != value) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in [" +
                                                std::to_string(static_cast<int64_t>(min)) + ", " +
                                                std::to_string(static_cast<int64_t>(max)) + "], got " +
                                                std::to_string(value));
  }
  return value;
}

Napi::TypedArray ArrayArgument(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                               napi_typedarray_type type, const char* type_name) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a " + type_name);
  }
  return info[index].As<Napi::TypedArray>();
}

template <typename Traits>
Napi::Value RunRmsNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 5) throw Napi::TypeError::New(env, "rmsNorm takes (input, weight, rows, cols, eps)");
  Napi::TypedArray input = ArrayArgument(info, 0, "input", Traits::kArrayType, Traits::kArrayName);
  Napi::TypedArray weight = ArrayArgument(info, 1, "weight", Traits::kArrayType, Traits::kArrayName);
  const auto rows = static_cast<int64_t>(IntegerArgument(info, 2, "rows", 1, 2147483647.0));
  const auto cols = static_cast<int>(IntegerArgument(info, 3, "cols", 1, 2147483647.0));
  if (!info[4].IsNumber()) throw Napi::TypeError::New(env, "eps must be a number");
  const double eps = info[4].As<Napi::Number>().DoubleValue();
  if (!(eps >= 0) || !std::isfinite(eps)) throw Napi::RangeError::New(env, "eps must be finite and >= 0");
  if (static_cast<double>(input.ElementLength()) != static_cast<double>(rows) * cols) {
    throw Napi::RangeError::New(env, "input has " + std::to_string(input.ElementLength()) +
                                         " elements, expected rows*cols = " +
                                         std::to_string(rows * static_cast<int64_t>(cols)));
  }
  if (weight.ElementLength() != static_cast<std::size_t>(cols)) {
    throw Napi::RangeError::New(env, "weight has " + std::to_string(weight.ElementLength()) +
                                         " elements, expected cols = " + std::to_string(cols));
  }
  auto* worker = new RmsNormWorker<Traits>(env, input, weight, rows, cols, static_cast<float>(eps));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

Napi::Value RmsNormBf16(const Napi::CallbackInfo& info) { return RunRmsNorm<Bf16Traits>(info); }

Napi::Value RmsNormF32(const Napi::CallbackInfo& info) { return RunRmsNorm<F32Traits>(info); }

}  // namespace duo
