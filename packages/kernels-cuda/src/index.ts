// Public surface of @duo-attn/kernels-cuda so far: availability of the CUDA addon, the RMSNorm
// kernel and the typed errors (bf16 host conversion is @duo-attn/core's). The cuda Backend comes
// later (DESIGN.md §4).
export type { CudaAvailability, CudaDevice } from './availability.js';
export { cudaAvailability, MIN_COMPUTE_CAPABILITY_MAJOR } from './availability.js';
export { CudaInputError, CudaRuntimeError, CudaUnavailableError } from './errors.js';
export type { RmsNormShape } from './kernels/rms-norm.js';
export { rmsNorm, rmsNormF32 } from './kernels/rms-norm.js';
