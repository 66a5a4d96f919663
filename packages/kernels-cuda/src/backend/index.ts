// Public surface of the cuda backend.
export type { CudaBackend, CudaBackendOptions } from './cuda-backend.js';
export { CUDA_BACKEND_NAME, CUDA_HEAD_DIMS, checkCudaSupport, createCudaBackend } from './cuda-backend.js';
export { CudaExecutor } from './cuda-executor.js';
export type { CudaGateTrainingResult, CudaGateTrainingTimings } from './cuda-gate-trainer.js';
export { CudaGateTrainer } from './cuda-gate-trainer.js';
export type { PackedWeight } from './pack-weights.js';
export { packWeights } from './pack-weights.js';
export { CUDA_BACKEND_PRIORITY, registerCudaBackend } from './register.js';
