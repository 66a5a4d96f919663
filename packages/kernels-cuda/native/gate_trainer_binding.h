// NativeGateTrainer: the JS handle of one GateTrainerModel (see gate_trainer_binding.cc), and
// `createGateTrainer`.
#pragma once

#include <napi.h>

#include <memory>

namespace duo {

class GateTrainerModel;

class NativeGateTrainer : public Napi::ObjectWrap<NativeGateTrainer> {
 public:
  explicit NativeGateTrainer(const Napi::CallbackInfo& info);
  static Napi::Function Define(Napi::Env env);
  void Attach(std::shared_ptr<GateTrainerModel> trainer);

 private:
  std::shared_ptr<GateTrainerModel> Live(const Napi::Env& env, const char* method) const;
  Napi::Value UploadWeight(const Napi::CallbackInfo& info);
  Napi::Value FillRandomWeights(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Memory(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<GateTrainerModel> trainer_;
};

/** Adds `createGateTrainer(shape, options) -> Promise<NativeGateTrainer>` to the exports. */
void RegisterGateTrainerBinding(Napi::Env env, Napi::Object exports);

}  // namespace duo
