// Base of every addon call that does CUDA work: runs on the libuv thread pool, settles a Promise,
// and turns the first failing CUDA call into a rejection carrying the CUDA error name and text.
// Nothing here aborts the process: a failure only ever rejects the promise it belongs to.
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <string>

#include "host/status.h"

namespace duo {

class CudaWorker : public Napi::AsyncWorker {
 public:
  explicit CudaWorker(Napi::Env env)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}

  /** The promise this worker settles; return it to JS after Queue(). */
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  /**
   * Records `status` as this worker's failure unless it is cudaSuccess. `what` names the call
   * ("cudaMalloc(input)"). Returns true on success so Execute() can `if (!Check(...)) return;`.
   */
  bool Check(cudaError_t status, const char* what) {
    if (status == cudaSuccess) return true;
    if (cuda_status_ == cudaSuccess) {
      cuda_status_ = status;
      SetError(std::string(what) + " failed: " + cudaGetErrorName(status) + ": " +
               cudaGetErrorString(status));
    }
    return false;
  }

  /** Records a failed host Status (its CUDA error too, if any); true when ok. */
  bool CheckStatus(const Status& status) {
    if (status.ok()) return true;
    if (cuda_status_ == cudaSuccess && !failed_) {
      cuda_status_ = status.cuda_error();
      SetError(status.message());
    }
    failed_ = true;
    return false;
  }

  /** Lets a subclass attach more diagnostic fields to the rejection's Error object. */
  virtual void DecorateError(Napi::Object /*error*/) {}

  /** Resolves the promise with the worker's result (called on the JS thread). */
  virtual Napi::Value Result() = 0;

  void OnOK() override { deferred_.Resolve(Result()); }

  void OnError(const Napi::Error& error) override {
    Napi::Object object = error.Value();
    if (cuda_status_ != cudaSuccess) {
      object.Set("cudaError", Napi::String::New(Env(), cudaGetErrorName(cuda_status_)));
      object.Set("cudaErrorCode", Napi::Number::New(Env(), static_cast<double>(cuda_status_)));
    }
    DecorateError(object);
    deferred_.Reject(object);
  }

 private:
  Napi::Promise::Deferred deferred_;
  cudaError_t cuda_status_ = cudaSuccess;
  bool failed_ = false;
};

}  // namespace duo
