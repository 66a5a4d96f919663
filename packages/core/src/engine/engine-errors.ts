// Typed errors of the engine, so callers (CLI, server) can tell bad requests from backend faults.
import { DuoError } from '../errors.js';

/** A prompt, id list or option passed to the engine is invalid (code `E_ENGINE_INPUT`). */
export class EngineInputError extends DuoError {
  constructor(message: string) {
    super('E_ENGINE_INPUT', message);
    this.name = 'EngineInputError';
  }
}

/** A backend returned logits that break the contract of `Executor.forward` (code `E_BACKEND_RESULT`). */
export class BackendResultError extends DuoError {
  constructor(message: string) {
    super('E_BACKEND_RESULT', message);
    this.name = 'BackendResultError';
  }
}
