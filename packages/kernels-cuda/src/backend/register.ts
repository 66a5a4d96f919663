// Opt-in registration of the cuda backend. Importing this module does nothing; the caller decides
// where the side effect lives.
import { type BackendRegistry, defaultBackendRegistry } from '@duo-attn/core';
import { type CudaBackend, createCudaBackend } from './cuda-backend.js';

/** Priority of the cuda backend: above the cpu backend's 10, so a usable GPU is picked first. */
export const CUDA_BACKEND_PRIORITY = 20;

let instance: CudaBackend | undefined;

/**
 * Registers the cuda backend for device 0 (in the process-wide registry unless another is given) and
 * returns it. Calling it again is harmless.
 */
export function registerCudaBackend(registry: BackendRegistry = defaultBackendRegistry): CudaBackend {
  instance ??= createCudaBackend();
  registry.register(instance, CUDA_BACKEND_PRIORITY);
  return instance;
}
