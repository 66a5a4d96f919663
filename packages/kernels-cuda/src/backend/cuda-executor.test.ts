// The cuda executor's JS-side logic against a fake native model (no GPU): argument checks before any
// GPU call, lengths and positions handed to the native side, RoPE tables, busy/reset/dispose rules,
// error wrapping and the memory report.
import {
  CapacityError,
  createRandomModel,
  DisposedError,
  ExecutorBusyError,
  policyFromMask,
  ropeCosSin,
  ropeFrequencies,
  TokenIdError,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import type { NativeModel, NativeModelMemory } from '../binding.js';
import { CudaRuntimeError } from '../errors.js';
import { CudaExecutor } from './cuda-executor.js';

interface ForwardCall {
  sequence: number;
  start: number;
  ids: number[];
  cos: Float32Array;
  sin: Float32Array;
  allLogits: boolean;
}

function fakeNative(vocab: number, options: { fail?: Error; gate?: Promise<void> } = {}) {
  const calls: ForwardCall[] = [];
  let disposed = 0;
  const memory: NativeModelMemory = {
    weightBytes: 1000,
    retrievalCacheBytes: 500,
    streamingCacheBytes: 60,
    scratchBytes: 7,
  };
  const native: NativeModel = {
    uploadWeight: async () => undefined,
    fillRandomWeights: async () => undefined,
    forward: async (sequence, start, ids, cos, sin, allLogits) => {
      calls.push({ sequence, start, ids: [...ids], cos, sin, allLogits });
      await options.gate;
      if (options.fail) throw options.fail;
      return new Float32Array((allLogits ? ids.length : 1) * vocab).fill(0.5);
    },
    fillSyntheticCache: async () => undefined,
    memory: () => memory,
    dispose: async () => {
      disposed++;
    },
  };
  return { native, calls, disposedCount: () => disposed };
}

const model = createRandomModel({ numLayers: 2, hiddenSize: 16, numHeads: 4, numKvHeads: 2, vocabSize: 50 });
const { config } = model;
const policy = policyFromMask(
  [
    [1, 0],
    [0, 0],
  ],
  { sinkSize: 2, recentSize: 3, cacheDtype: 'bf16' },
);

function executor(native: NativeModel) {
  return new CudaExecutor({ native, config, policy, maxTokens: 20, maxSequences: 2 });
}

describe('CudaExecutor', () => {
  it('passes start positions and RoPE tables for each call and tracks lengths', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    const first = await ex.forward(0, [1, 2, 3], { allLogits: true });
    expect(first.numRows).toBe(3);
    expect(first.logits.length).toBe(3 * config.vocabSize);
    await ex.forward(0, [4]);
    expect(fake.calls.map((c) => [c.start, c.ids])).toEqual([
      [0, [1, 2, 3]],
      [3, [4]],
    ]);
    expect(ex.length(0)).toBe(4);
    const half = config.headDim / 2;
    const cos = new Float32Array(half);
    const sin = new Float32Array(half);
    ropeCosSin(ropeFrequencies(config.rope, config.headDim), 3, cos, sin);
    expect(fake.calls[1]!.cos).toEqual(cos);
    expect(fake.calls[1]!.sin).toEqual(sin);
  });

  it('rejects bad ids and capacity overflow before any GPU call', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    await expect(ex.forward(0, [config.vocabSize])).rejects.toBeInstanceOf(TokenIdError);
    await expect(ex.forward(0, new Array(21).fill(1))).rejects.toBeInstanceOf(CapacityError);
    await expect(ex.forward(2, [1])).rejects.toThrow(/sequence 2 is outside/);
    await expect(ex.fillSyntheticCache(0, 21)).rejects.toThrow(/at most 20/);
    expect(fake.calls).toHaveLength(0);
  });

  it('refuses a second call or a reset on a busy sequence, and reset starts it afresh', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const fake = fakeNative(config.vocabSize, { gate });
    const ex = executor(fake.native);
    const running = ex.forward(0, [1, 2]);
    await expect(ex.forward(0, [3])).rejects.toBeInstanceOf(ExecutorBusyError);
    expect(() => ex.reset(0)).toThrow(ExecutorBusyError);
    open();
    await running;
    ex.reset(0);
    expect(ex.length(0)).toBe(0);
    await ex.forward(0, [5]);
    expect(fake.calls.at(-1)!.start).toBe(0);
  });

  it('wraps native failures in CudaRuntimeError naming the call and leaves the length unchanged', async () => {
    const fake = fakeNative(config.vocabSize, {
      fail: Object.assign(new Error('boom'), { cudaError: 'cudaErrorLaunchFailure' }),
    });
    const ex = executor(fake.native);
    const error = await ex.forward(1, [1, 2]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CudaRuntimeError);
    expect((error as CudaRuntimeError).message).toMatch(
      /forward of 2 tokens on sequence 1 at position 0: boom/,
    );
    expect((error as CudaRuntimeError).cudaError).toBe('cudaErrorLaunchFailure');
    expect(ex.length(1)).toBe(0);
  });

  it('reports KV bytes per head class in bf16 and device allocations', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    await ex.forward(0, [1, 2, 3, 4]);
    const d = config.headDim;
    const memory = ex.memory();
    expect(memory.retrievalKvBytesUsed).toBe(4 * 2 * 1 * d * 2); // one retrieval KV head in layer 0
    expect(memory.streamingKvBytesUsed).toBe(Math.min(4, 5) * 2 * 3 * d * 2); // three streaming heads
    expect(memory.kvBytesAllocated).toBe(560);
    expect(memory.weightBytes).toBe(1000);
  });

  it('after dispose every call rejects with DisposedError; dispose runs once', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    await ex.dispose();
    await ex.dispose();
    expect(fake.disposedCount()).toBe(1);
    await expect(ex.forward(0, [1])).rejects.toBeInstanceOf(DisposedError);
    expect(() => ex.memory()).toThrow(DisposedError);
    await expect(ex.fillSyntheticCache(0, 3)).rejects.toBeInstanceOf(DisposedError);
  });

  it('an aborted signal stops the call before it reaches the GPU', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    const controller = new AbortController();
    controller.abort();
    await expect(ex.forward(0, [1], { signal: controller.signal })).rejects.toThrow(/aborted/);
    expect(fake.calls).toHaveLength(0);
  });
});
