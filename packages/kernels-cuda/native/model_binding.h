// NativeModel: the JS handle of one CudaModel (see model_binding.cc), and `createModel`.
#pragma once

#include <napi.h>

#include <memory>

namespace duo {

class CudaModel;

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  explicit NativeModel(const Napi::CallbackInfo& info);
  static Napi::Function Define(Napi::Env env);
  void Attach(std::shared_ptr<CudaModel> model);

 private:
  std::shared_ptr<CudaModel> Live(const Napi::Env& env, const char* method) const;
  Napi::Value UploadWeight(const Napi::CallbackInfo& info);
  Napi::Value FillRandomWeights(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ForwardSample(const Napi::CallbackInfo& info);
  Napi::Value ForwardBatch(const Napi::CallbackInfo& info);
  Napi::Value FillSyntheticCache(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<CudaModel> model_;
};

/** Adds `createModel(shape, policy, options) -> Promise<NativeModel>` to the exports. */
void RegisterModelBinding(Napi::Env env, Napi::Object exports);

}  // namespace duo
