// Our own declarations of the small part of the cuBLASLt C API that the GEMMs use, and a loader that
// dlopen()s libcublasLt at run time. The cuBLAS headers are not installed on the build and CI
// machines (only the CUDA runtime's), and the library is not needed to load the addon: a machine
// without it still runs decode (our skinny-GEMM kernel) and reports the missing library by name.
//
// Every value below is the documented numeric value of the cuBLAS 12.x / 13.x headers (cublas_api.h,
// cublasLt.h); they are part of the library's ABI and have not changed since cuBLAS 11. The loader
// refuses a library whose major version is not 12 or 13, so a future ABI change cannot be misread.
#pragma once

#include <cuda_runtime_api.h>
#include <library_types.h>  // cudaDataType_t: CUDA_R_16BF = 14, CUDA_R_32F = 0 (from the runtime headers)

#include <cstddef>
#include <cstdint>
#include <string>

#include "host/status.h"

namespace duo::cublaslt {

// ---- enums (cublas_api.h) ----------------------------------------------------------------------

/** cublasStatus_t. */
enum cublasStatus_t : int {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16,
};

/** cublasComputeType_t (the subset we name). */
enum cublasComputeType_t : int {
  CUBLAS_COMPUTE_32F = 68,           // fp32 accumulation, inputs used as given (bf16 products exact)
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,
};

/** cublasOperation_t. */
enum cublasOperation_t : int {
  CUBLAS_OP_N = 0,
  CUBLAS_OP_T = 1,
  CUBLAS_OP_C = 2,
};

// ---- enums (cublasLt.h) ------------------------------------------------------------------------

/** cublasLtMatmulDescAttributes_t (the subset we set). Values are int32_t unless noted. */
enum cublasLtMatmulDescAttributes_t : int {
  CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,  // int32_t cublasComputeType_t
  CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,    // int32_t cudaDataType_t
  CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,  // int32_t, default host pointers
  CUBLASLT_MATMUL_DESC_TRANSA = 3,        // int32_t cublasOperation_t
  CUBLASLT_MATMUL_DESC_TRANSB = 4,        // int32_t cublasOperation_t
  CUBLASLT_MATMUL_DESC_EPILOGUE = 7,      // uint32_t cublasLtEpilogue_t (unused: default)
};

/** cublasLtMatrixLayoutAttribute_t (declared for completeness; the defaults are what we want). */
enum cublasLtMatrixLayoutAttribute_t : int {
  CUBLASLT_MATRIX_LAYOUT_TYPE = 0,   // uint32_t cudaDataType_t
  CUBLASLT_MATRIX_LAYOUT_ORDER = 1,  // int32_t cublasLtOrder_t, default CUBLASLT_ORDER_COL = 0
  CUBLASLT_MATRIX_LAYOUT_ROWS = 2,   // uint64_t
  CUBLASLT_MATRIX_LAYOUT_COLS = 3,   // uint64_t
  CUBLASLT_MATRIX_LAYOUT_LD = 4,     // int64_t
};

/** cublasLtMatmulPreferenceAttributes_t (the subset we set). */
enum cublasLtMatmulPreferenceAttributes_t : int {
  CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,            // uint32_t
  CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,    // uint64_t, default 0
  CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK = 3,  // uint32_t cublasLtReductionScheme_t bits, default all
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,  // uint32_t, default 256
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,  // uint32_t, default 256
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,  // uint32_t, default 256
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,  // uint32_t, default 256
};

/** cublasLtReductionScheme_t: how split-K partial sums are combined. */
enum cublasLtReductionScheme_t : int {
  CUBLASLT_REDUCTION_SCHEME_NONE = 0,
  CUBLASLT_REDUCTION_SCHEME_INPLACE = 1,       // in the output buffer, in the output type
  CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE = 2,  // in the workspace, in the compute type (fp32)
  CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE = 4,   // in the workspace, in the output type
};

// ---- types -------------------------------------------------------------------------------------

// Handles and descriptors are pointers to library-owned objects; we never look inside them.
struct cublasLtContext;
struct cublasLtMatmulDescOpaque_t;
struct cublasLtMatrixLayoutOpaque_t;
struct cublasLtMatmulPreferenceOpaque_t;
using cublasLtHandle_t = cublasLtContext*;
using cublasLtMatmulDesc_t = cublasLtMatmulDescOpaque_t*;
using cublasLtMatrixLayout_t = cublasLtMatrixLayoutOpaque_t*;
using cublasLtMatmulPreference_t = cublasLtMatmulPreferenceOpaque_t*;

/** cublasLtMatmulAlgo_t: semi-opaque, 8 x uint64_t, passed back to cublasLtMatmul as is. */
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};

/** cublasLtMatmulHeuristicResult_t: 96 bytes on LP64. */
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;  // offset 0, 64 bytes
  size_t workspaceSize;       // offset 64
  cublasStatus_t state;       // offset 72 (4 bytes: a C enum)
  float wavesCount;           // offset 76
  int reserved[4];            // offset 80
};
static_assert(sizeof(cublasStatus_t) == 4, "a C enum is 4 bytes");
static_assert(sizeof(cublasLtMatmulAlgo_t) == 64, "cublasLtMatmulAlgo_t is 8 x uint64_t");
static_assert(offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize) == 64, "layout");
static_assert(offsetof(cublasLtMatmulHeuristicResult_t, state) == 72, "layout");
static_assert(offsetof(cublasLtMatmulHeuristicResult_t, wavesCount) == 76, "layout");
static_assert(offsetof(cublasLtMatmulHeuristicResult_t, reserved) == 80, "layout");
static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == 96, "layout");

// ---- the functions we resolve ------------------------------------------------------------------

/** Function pointers into one loaded libcublasLt; every one is non-null once Load() succeeded. */
struct Api {
  size_t (*GetVersion)();
  cublasStatus_t (*Create)(cublasLtHandle_t* handle);
  cublasStatus_t (*Destroy)(cublasLtHandle_t handle);
  cublasStatus_t (*MatmulDescCreate)(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute_type,
                                     cudaDataType_t scale_type);
  cublasStatus_t (*MatmulDescDestroy)(cublasLtMatmulDesc_t desc);
  cublasStatus_t (*MatmulDescSetAttribute)(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                           const void* buf, size_t size_in_bytes);
  cublasStatus_t (*MatrixLayoutCreate)(cublasLtMatrixLayout_t* layout, cudaDataType_t type, uint64_t rows,
                                       uint64_t cols, int64_t ld);
  cublasStatus_t (*MatrixLayoutDestroy)(cublasLtMatrixLayout_t layout);
  cublasStatus_t (*MatmulPreferenceCreate)(cublasLtMatmulPreference_t* pref);
  cublasStatus_t (*MatmulPreferenceDestroy)(cublasLtMatmulPreference_t pref);
  cublasStatus_t (*MatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t pref,
                                                 cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                 size_t size_in_bytes);
  cublasStatus_t (*MatmulAlgoGetHeuristic)(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                           cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                           cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                           cublasLtMatmulPreference_t pref, int requested_algo_count,
                                           cublasLtMatmulHeuristicResult_t results[], int* return_algo_count);
  cublasStatus_t (*Matmul)(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* a,
                           cublasLtMatrixLayout_t a_desc, const void* b, cublasLtMatrixLayout_t b_desc,
                           const void* beta, const void* c, cublasLtMatrixLayout_t c_desc, void* d,
                           cublasLtMatrixLayout_t d_desc, const cublasLtMatmulAlgo_t* algo, void* workspace,
                           size_t workspace_size_in_bytes, cudaStream_t stream);
  // Optional (nullptr if absent): human-readable status names.
  const char* (*GetStatusName)(cublasStatus_t status);

  std::string path;   // what dlopen() was given for the library that loaded
  size_t version = 0; // cublasLtGetVersion(): major * 10000 + minor * 100 + patch
};

/**
 * Loads libcublasLt once per process (later calls return the same result, thread-safe) and sets
 * *api to the resolved functions, which stay valid for the life of the process. Tries, in order:
 * $DUO_CUBLASLT_PATH, libcublasLt.so.13, .so.12, .so (the dynamic linker's search), then well-known
 * CUDA toolkit and pip (nvidia-cublas) locations. On failure the Status names every path tried
 * with its dlerror() text, or the missing symbol, or the unsupported version.
 */
Status Load(const Api** api);

/** "CUBLAS_STATUS_NOT_SUPPORTED (15)"-style text for a status, with or without a loaded library. */
std::string StatusText(cublasStatus_t status);

}  // namespace duo::cublaslt
