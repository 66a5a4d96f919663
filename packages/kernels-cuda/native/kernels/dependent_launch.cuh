// Programmatic dependent launch (PDL, sm_90+): a kernel launched with the programmatic-serialization
// attribute may start while the kernel before it in the stream is still running, as soon as every
// block of that one has called AllowDependentLaunch (or exited). It must call
// WaitForPrerequisiteGrid before it reads anything the earlier kernel writes, or writes anything
// that kernel reads; the wait returns once that grid has finished and its memory is visible.
// Decode launches its GEMVs and decode attention this way, so they stream their first weights or
// cache rows while the small kernel before them finishes. (Launching the small kernels as dependents
// too, resident and waiting for their input, measured ~1% slower end to end on an H100.)
//
// The rule that keeps chains safe: a kernel calls AllowDependentLaunch only once everything before
// it has finished, i.e. at its start when it was launched normally, or after its own
// WaitForPrerequisiteGrid when it was launched as a dependent. So at most two kernels overlap, and
// a dependent's early part overlaps only the one kernel right before it.
// Below sm_90, and for kernels launched without the attribute, both calls are no-ops.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>
#ifdef __CUDACC__
#include <cuda_runtime.h>  // the cudaLaunchKernelEx template
#endif

namespace duo {

#ifdef __CUDACC__
/** Lets the next kernel in the stream be scheduled now (it still waits before touching our data). */
__device__ __forceinline__ void AllowDependentLaunch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

/** Blocks until the kernel before this one in the stream has finished and flushed its writes. */
__device__ __forceinline__ void WaitForPrerequisiteGrid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
#endif  // __CUDACC__

/** Whether the current device can launch dependents early (compute capability 9.0+); cached per device. */
bool DependentLaunchSupported();

#ifdef __CUDACC__
/**
 * Launches `kernel` as a dependent of the kernel before it in `stream` (where the device supports
 * it; a plain launch otherwise). The kernel must follow the rule above.
 */
template <typename... KernelArgs, typename... Args>
cudaError_t LaunchAsDependent(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, std::size_t shared_bytes,
                              cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = attribute;
  config.numAttrs = DependentLaunchSupported() ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}
#endif  // __CUDACC__

}  // namespace duo
