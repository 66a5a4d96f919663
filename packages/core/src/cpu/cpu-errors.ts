// Typed errors of the cpu backend that the shared backend errors do not cover: the worker process
// that runs onnxruntime died or threw, so the executor can no longer answer.
import { DuoError } from '../errors.js';

/**
 * The cpu backend's worker failed: onnxruntime could not be loaded, the session could not be
 * created, `session.run` threw, or the worker process crashed (a native fault included) or
 * exited. Code `E_CPU_WORKER`.
 * Once an executor has raised it, every later call rejects with the same error.
 */
export class CpuWorkerError extends DuoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CPU_WORKER', message, options);
    this.name = 'CpuWorkerError';
  }
}
