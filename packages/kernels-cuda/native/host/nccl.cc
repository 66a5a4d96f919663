// The NCCL loader: dlopen() the first candidate that loads, dlsym() every function we call, check
// the major version. The library handle is never closed (the pointers live as long as the process).
#include "host/nccl.h"

#include <mutex>

#include "host/library_search.h"

namespace duo::nccl {
namespace {

using library_search::Resolve;

Status LoadOnce(Api* api) {
  const library_search::LibrarySpec spec{
      "NCCL",
      "DUO_NCCL_PATH",
      {"libnccl.so.2", "libnccl.so"},
      {"nvidia/nccl/lib/libnccl.so.2"},
  };
  library_search::OpenedLibrary opened;
  if (Status status = library_search::Open(spec, &opened); !status.ok()) return status;
  void* library = opened.handle;
  api->path = opened.path;
  std::string missing;
  bool ok = true;
  ok &= Resolve(library, "ncclGetVersion", &api->GetVersion, &missing);
  ok &= Resolve(library, "ncclGetUniqueId", &api->GetUniqueId, &missing);
  ok &= Resolve(library, "ncclCommInitRank", &api->CommInitRank, &missing);
  ok &= Resolve(library, "ncclCommInitAll", &api->CommInitAll, &missing);
  ok &= Resolve(library, "ncclCommDestroy", &api->CommDestroy, &missing);
  ok &= Resolve(library, "ncclAllReduce", &api->AllReduce, &missing);
  ok &= Resolve(library, "ncclGroupStart", &api->GroupStart, &missing);
  ok &= Resolve(library, "ncclGroupEnd", &api->GroupEnd, &missing);
  ok &= Resolve(library, "ncclGetErrorString", &api->GetErrorString, &missing);
  if (!ok) return Status::Error("NCCL at " + api->path + " lacks " + missing);
  if (api->GetVersion(&api->version) != ncclSuccess) {
    return Status::Error("NCCL at " + api->path + ": ncclGetVersion failed");
  }
  // Versions >= 2.9 report major * 10000 + minor * 100 + patch; older ones major * 1000 + ...
  const int major = api->version >= 10000 ? api->version / 10000 : api->version / 1000;
  if (major != 2) {
    return Status::Error("NCCL at " + api->path + " has version " + std::to_string(api->version) +
                         "; these declarations are checked against NCCL 2.x only (set DUO_NCCL_PATH to such a library)");
  }
  return Status::Ok();
}

const char* ResultName(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "ncclSuccess";
    case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
    case ncclSystemError: return "ncclSystemError";
    case ncclInternalError: return "ncclInternalError";
    case ncclInvalidArgument: return "ncclInvalidArgument";
    case ncclInvalidUsage: return "ncclInvalidUsage";
    case ncclRemoteError: return "ncclRemoteError";
    case ncclInProgress: return "ncclInProgress";
  }
  return "ncclResult?";
}

}  // namespace

Status Load(const Api** api) {
  static Api loaded{};
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = LoadOnce(&loaded); });
  *api = status.ok() ? &loaded : nullptr;
  return status;
}

Status Check(ncclResult_t result, const std::string& what) {
  if (result == ncclSuccess) return Status::Ok();
  const Api* api = nullptr;
  std::string text;
  if (Load(&api).ok() && api->GetErrorString != nullptr) text = api->GetErrorString(result);
  return Status::Error(what + ": " + ResultName(result) + " (" + std::to_string(static_cast<int>(result)) + ")" +
                       (text.empty() ? "" : ": " + text));
}

}  // namespace duo::nccl
