// Public surface of the cpu backend (onnxruntime-node in a worker process) and its opt-in registration.
export type { CpuBackendOptions } from './cpu-backend.js';
export { CPU_BACKEND_NAME, createCpuBackend } from './cpu-backend.js';
export { CpuWorkerError } from './cpu-errors.js';
export { CpuExecutor } from './cpu-executor.js';
export type { MatmulFloor } from './matmul-floor.js';
export { measureMatmulFloor } from './matmul-floor.js';
export { CPU_BACKEND_PRIORITY, registerCpuBackend } from './register.js';
