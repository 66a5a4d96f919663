// Public surface of @duo-attn/kernels-cuda: the `cuda` backend (DESIGN.md §4), availability of the
// CUDA addon, the one-shot RMSNorm kernel and the typed errors.
export type { CudaAvailability, CudaDevice } from './availability.js';
export { cudaAvailability, MIN_COMPUTE_CAPABILITY_MAJOR } from './availability.js';
export * from './backend/index.js';
export type { NativeGateTrainerMemory, NativeModelMemory } from './binding.js';
export { WeightKind } from './binding.js';
export type { CopyBandwidth } from './copy-bandwidth.js';
export { measureCopyBandwidth } from './copy-bandwidth.js';
export { CudaInputError, CudaRuntimeError, CudaUnavailableError } from './errors.js';
export type { RmsNormShape } from './kernels/rms-norm.js';
export { rmsNorm, rmsNormF32 } from './kernels/rms-norm.js';
