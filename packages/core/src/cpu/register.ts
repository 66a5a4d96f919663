// Opt-in registration of the cpu backend. Importing this module does nothing; the caller decides
// where the side effect lives.
import type { Backend } from '../backend/backend.js';
import { type BackendRegistry, defaultBackendRegistry } from '../backend/backend-registry.js';
import { createCpuBackend } from './cpu-backend.js';

/** Priority of the cpu backend: positive, so it is picked automatically when onnxruntime-node loads. */
export const CPU_BACKEND_PRIORITY = 10;

let instance: Backend | undefined;

/**
 * Registers the cpu backend (in the process-wide registry unless another is given) and returns it.
 * Calling it again is harmless; another backend already registered as `cpu` is an error.
 */
export function registerCpuBackend(registry: BackendRegistry = defaultBackendRegistry): Backend {
  instance ??= createCpuBackend();
  registry.register(instance, CPU_BACKEND_PRIORITY);
  return instance;
}
