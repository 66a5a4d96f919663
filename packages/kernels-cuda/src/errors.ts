// Typed errors of the CUDA kernels package. Codes are stable: E_CUDA_UNAVAILABLE (the addon or the
// GPU cannot be used, with the reason), E_CUDA_INPUT (bad arguments), E_CUDA_RUNTIME (a CUDA call failed).
import { DuoError } from '@duo-attn/core';

/** The native addon cannot be used here; `reason` names the cause (not built, no driver, no GPU...). */
export class CudaUnavailableError extends DuoError {
  readonly reason: string;

  constructor(reason: string) {
    super('E_CUDA_UNAVAILABLE', `the CUDA kernels are unavailable: ${reason}`);
    this.name = 'CudaUnavailableError';
    this.reason = reason;
  }
}

/** An argument given to a kernel wrapper has the wrong type, shape or value. */
export class CudaInputError extends DuoError {
  constructor(message: string) {
    super('E_CUDA_INPUT', message);
    this.name = 'CudaInputError';
  }
}

/** A CUDA call failed inside the addon. `cudaError` is the CUDA error name, e.g. `cudaErrorMemoryAllocation`. */
export class CudaRuntimeError extends DuoError {
  readonly cudaError: string | undefined;

  constructor(operation: string, cause: unknown) {
    const cudaError = cudaErrorName(cause);
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('E_CUDA_RUNTIME', `${operation}: ${detail}`, { cause });
    this.name = 'CudaRuntimeError';
    this.cudaError = cudaError;
  }
}

/** The `cudaError` name the addon attaches to its rejections, if any. */
export function cudaErrorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('cudaError' in error)) return undefined;
  const name = (error as { cudaError: unknown }).cudaError;
  return typeof name === 'string' ? name : undefined;
}
