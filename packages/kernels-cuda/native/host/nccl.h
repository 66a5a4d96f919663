// Our own declarations of the part of NCCL's C API that tensor parallelism uses (issue #16), and a
// loader that dlopen()s libnccl at run time, as cublaslt.h does for cuBLASLt: NCCL is not installed
// on the build and CI machines, the addon must load without it, and only a multi-GPU run needs it.
//
// The values below are those of nccl.h (NCCL 2.x); they are part of its ABI. The loader refuses a
// library whose major version is not 2.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#include "host/status.h"

namespace duo::nccl {

/** ncclResult_t. */
enum ncclResult_t : int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
};

/** ncclDataType_t (the subset we name). */
enum ncclDataType_t : int {
  ncclFloat32 = 7,
  ncclBfloat16 = 9,
};

/** ncclRedOp_t (the subset we name). */
enum ncclRedOp_t : int {
  ncclSum = 0,
};

/** An opaque communicator. */
using ncclComm_t = struct ncclComm*;

/** NCCL_UNIQUE_ID_BYTES = 128: what rank 0 creates and every rank joins with. */
struct ncclUniqueId {
  char internal[128];
};

/** The resolved functions of a loaded libnccl. */
struct Api {
  std::string path;
  /** NCCL_VERSION_CODE style: major * 10000 + minor * 100 + patch (2.x). */
  int version = 0;
  ncclResult_t (*GetVersion)(int* version);
  ncclResult_t (*GetUniqueId)(ncclUniqueId* id);
  ncclResult_t (*CommInitRank)(ncclComm_t* comm, int ranks, ncclUniqueId id, int rank);
  ncclResult_t (*CommInitAll)(ncclComm_t* comms, int devices, const int* device_list);
  ncclResult_t (*CommDestroy)(ncclComm_t comm);
  ncclResult_t (*AllReduce)(const void* send, void* receive, std::size_t count, ncclDataType_t type,
                            ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*GroupStart)();
  ncclResult_t (*GroupEnd)();
  const char* (*GetErrorString)(ncclResult_t result);
};

/**
 * Loads libnccl once per process: $DUO_NCCL_PATH, libnccl.so.2 (the dynamic linker's search), CUDA
 * toolkit directories, then pip's nvidia-nccl wheel (nvidia/nccl/lib). `*api` is null on failure,
 * and the status names every path tried.
 */
Status Load(const Api** api);

/** A Status for a failed NCCL call: `what`, the result's name and NCCL's own text. */
Status Check(ncclResult_t result, const std::string& what);

}  // namespace duo::nccl
