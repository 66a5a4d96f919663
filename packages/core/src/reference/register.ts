// Opt-in registration of the reference backend. Importing this module does nothing; the caller
// decides where the side effect lives.
import type { Backend } from '../backend/backend.js';
import { type BackendRegistry, defaultBackendRegistry } from '../backend/backend-registry.js';
import { createReferenceBackend } from './reference-backend.js';

/** Priority of the reference backend: negative, so it is only ever used when requested by name. */
export const REFERENCE_BACKEND_PRIORITY = -100;

let instance: Backend | undefined;

/**
 * Registers the reference backend (in the process-wide registry unless another is given) and
 * returns it. Calling it again is harmless; another backend already registered as `reference` is
 * an error.
 */
export function registerReferenceBackend(registry: BackendRegistry = defaultBackendRegistry): Backend {
  instance ??= createReferenceBackend();
  registry.register(instance, REFERENCE_BACKEND_PRIORITY);
  return instance;
}
