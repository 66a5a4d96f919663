import { DuoError } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { isOutOfMemoryError } from './out-of-memory.js';

describe('isOutOfMemoryError', () => {
  it('recognises the cuda addon, V8 and worker allocation failures, also as a cause', () => {
    const cuda = new Error(
      'cudaMalloc of 137438953472 bytes for the retrieval KV cache (1048576 tokens) of sequence 0 failed: cudaErrorMemoryAllocation: out of memory (device has 1 of 2 bytes free)',
    );
    expect(isOutOfMemoryError(cuda)).toBe(true);
    expect(isOutOfMemoryError(new DuoError('E_CUDA_RUNTIME', 'loading a model', { cause: cuda }))).toBe(true);
    expect(
      isOutOfMemoryError(Object.assign(new Error('x'), { cudaError: 'cudaErrorMemoryAllocation' })),
    ).toBe(true);
    expect(isOutOfMemoryError(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isOutOfMemoryError(new RangeError('Invalid typed array length: 9007199254740991'))).toBe(true);
    expect(isOutOfMemoryError(Object.assign(new Error('worker'), { code: 'ERR_WORKER_OUT_OF_MEMORY' }))).toBe(
      true,
    );
  });

  it('leaves every other failure alone', () => {
    expect(isOutOfMemoryError(new Error('cudaErrorIllegalAddress: an illegal memory access'))).toBe(false);
    expect(isOutOfMemoryError(new RangeError('maxTokens must be a positive integer'))).toBe(false);
    expect(isOutOfMemoryError('out of memory')).toBe(false);
    expect(isOutOfMemoryError(undefined)).toBe(false);
    const loop: { message: string; cause?: unknown } = { message: 'no' };
    loop.cause = loop;
    expect(isOutOfMemoryError(loop)).toBe(false);
  });
});
