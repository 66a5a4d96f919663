// Argument checks and promise plumbing shared by the addon's handle classes: every bad argument
// becomes a JS TypeError or RangeError naming it, and every synchronous throw a rejected promise.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "cuda_worker.h"

namespace duo::binding {

inline int IntArg(const Napi::Value& value, const char* name, double min, double max) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= min && v <= max) || std::floor(v) != v) {
    throw Napi::RangeError::New(env, std::string(name) + " must be an integer in [" + std::to_string(static_cast<int64_t>(min)) +
                                         ", " + std::to_string(static_cast<int64_t>(max)) + "], got " + std::to_string(v));
  }
  return static_cast<int>(v);
}

inline int IntField(const Napi::Object& object, const char* name, double min, double max) {
  return IntArg(object.Get(name), name, min, max);
}

inline double NumberField(const Napi::Object& object, const char* name) {
  const Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw Napi::TypeError::New(object.Env(), std::string(name) + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

template <typename T>
const T* TypedData(const Napi::TypedArray& array) {
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
}

inline Napi::TypedArray TypedArg(const Napi::Value& value, napi_typedarray_type type, const char* name, const char* expected) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a " + expected);
  }
  return value.As<Napi::TypedArray>();
}

constexpr double kMaxInt = 2147483647.0;

/** Turns a synchronous throw (bad argument, disposed) into a rejected promise, like the async errors. */
template <typename F>
Napi::Value AsPromise(const Napi::CallbackInfo& info, F&& body) {
  try {
    return body();
  } catch (const Napi::Error& error) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
    deferred.Reject(error.Value());
    return deferred.Promise();
  }
}

inline Napi::Value Queue(CudaWorker* worker) {
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace duo::binding
