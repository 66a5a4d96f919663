// The cuda executor's JS-side logic against a fake native model (no GPU): argument checks before any
// GPU call, lengths and positions handed to the native side, RoPE tables, busy/reset/dispose rules,
// error wrapping, the memory report, and forwardSample's request checks, fp32 hand-over and fallback.
import {
  CapacityError,
  createRandomModel,
  type DeviceSampleRequest,
  DisposedError,
  ExecutorBusyError,
  policyFromMask,
  ropeCosSin,
  ropeFrequencies,
  SamplingError,
  sampleToken,
  TokenIdError,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import type { NativeModel, NativeModelMemory, NativeSampleRequest } from '../binding.js';
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

interface SampleCall {
  sequence: number;
  start: number;
  ids: number[];
  cos: Float32Array;
  request: NativeSampleRequest;
}

/** Distinct logits per id, so a host-side sampler has something to choose from. */
function fakeLogits(rows: number, vocab: number): Float32Array {
  return Float32Array.from({ length: rows * vocab }, (_, i) => Math.sin(i % vocab) * 3);
}

function fakeNative(
  vocab: number,
  options: { fail?: Error; gate?: Promise<void>; sampled?: number; sampleFail?: Error } = {},
) {
  const calls: ForwardCall[] = [];
  const sampleCalls: SampleCall[] = [];
  const batchCalls: { sequences: number[]; starts: number[]; ids: number[]; cos: Float32Array }[] = [];
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
      return fakeLogits(allLogits ? ids.length : 1, vocab);
    },
    forwardSample: async (sequence, start, ids, cos, _sin, request) => {
      sampleCalls.push({ sequence, start, ids: [...ids], cos, request });
      await options.gate;
      if (options.sampleFail) throw options.sampleFail;
      return options.sampled ?? 7;
    },
    forwardBatch: async (sequences, starts, ids, cos) => {
      batchCalls.push({ sequences: [...sequences], starts: [...starts], ids: [...ids], cos });
      await options.gate;
      if (options.fail) throw options.fail;
      // Row i's logits are fakeLogits shifted by its sequence, so rows can be told apart.
      return Float32Array.from(
        { length: ids.length * vocab },
        (_, i) => Math.floor(i / vocab) * 100 + (i % vocab),
      );
    },
    fillSyntheticCache: async () => undefined,
    memory: () => memory,
    dispose: async () => {
      disposed++;
    },
  };
  return { native, calls, sampleCalls, batchCalls, disposedCount: () => disposed };
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

describe('CudaExecutor.forwardBatch', () => {
  it('is offered only when asked for (DUO_CUDA_BATCH=1 or batchDecode), until verified on a GPU', () => {
    const fake = fakeNative(config.vocabSize);
    expect(executor(fake.native).forwardBatch).toBeUndefined();
    const on = new CudaExecutor({
      native: fake.native,
      config,
      policy,
      maxTokens: 20,
      maxSequences: 2,
      batchDecode: true,
    });
    expect(typeof on.forwardBatch).toBe('function');
  });

  it('hands each row its sequence, position and RoPE angles, skips aborted steps, and tracks lengths', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = new CudaExecutor({
      native: fake.native,
      config,
      policy,
      maxTokens: 20,
      maxSequences: 3,
      batchDecode: true,
    });
    await ex.forward(0, [1, 2, 3]);
    await ex.forward(2, [4]);
    const stop = new AbortController();
    stop.abort();
    const result = await ex.forwardBatch!([
      { sequence: 2, token: 7 },
      { sequence: 1, token: 8, signal: stop.signal },
      { sequence: 0, token: 9 },
    ]);
    expect(fake.batchCalls).toHaveLength(1);
    expect(fake.batchCalls[0]).toMatchObject({ sequences: [2, 0], starts: [1, 3], ids: [7, 9] });
    const half = config.headDim / 2;
    const cos = new Float32Array(half);
    ropeCosSin(ropeFrequencies(config.rope, config.headDim), 3, cos, new Float32Array(half));
    expect(fake.batchCalls[0]!.cos.subarray(half)).toEqual(cos);
    expect(result.aborted).toEqual([false, true, false]);
    const vocab = config.vocabSize;
    expect(result.logits[0]).toBe(0); // native row 0 -> step 0
    expect(result.logits[2 * vocab]).toBe(100); // native row 1 -> step 2
    expect([ex.length(0), ex.length(1), ex.length(2)]).toEqual([4, 0, 2]);
  });

  it('checks every step before the GPU call and refuses busy sequences', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const fake = fakeNative(config.vocabSize, { gate });
    const ex = new CudaExecutor({
      native: fake.native,
      config,
      policy,
      maxTokens: 20,
      maxSequences: 2,
      batchDecode: true,
    });
    await expect(ex.forwardBatch!([{ sequence: 0, token: config.vocabSize }])).rejects.toBeInstanceOf(
      TokenIdError,
    );
    await expect(
      ex.forwardBatch!([
        { sequence: 0, token: 1 },
        { sequence: 0, token: 2 },
      ]),
    ).rejects.toThrow(/twice/);
    const running = ex.forward(1, [1]);
    await expect(ex.forwardBatch!([{ sequence: 1, token: 1 }])).rejects.toBeInstanceOf(ExecutorBusyError);
    open();
    await running;
    expect(fake.batchCalls).toHaveLength(0);
  });
});

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

const GREEDY: DeviceSampleRequest = {
  greedy: true,
  temperature: 1,
  topK: 0,
  topP: 1,
  repetitionPenalty: 1,
  uniform: 0,
};

describe('CudaExecutor.forwardSample', () => {
  it('hands the resolved request to the native model and tracks lengths like forward', async () => {
    const fake = fakeNative(config.vocabSize, { sampled: 11 });
    const ex = executor(fake.native);
    expect(await ex.forwardSample(0, [1, 2, 3], GREEDY)).toBe(11);
    expect(ex.length(0)).toBe(3);
    await ex.forward(0, [4]);
    const request: DeviceSampleRequest = {
      greedy: false,
      temperature: 0.75,
      topK: 5000, // >= vocabSize: off, as in sampleToken
      topP: 0.875,
      repetitionPenalty: 1.25,
      uniform: 0.3,
      previousTokens: [4, 1, 4, 49],
    };
    expect(await ex.forwardSample(0, [5], request)).toBe(11);
    expect(ex.length(0)).toBe(5);
    expect(fake.sampleCalls.map((c) => [c.sequence, c.start, c.ids])).toEqual([
      [0, 0, [1, 2, 3]],
      [0, 4, [5]],
    ]);
    expect(fake.calls.map((c) => c.start)).toEqual([3]);
    expect(fake.sampleCalls[0]!.request).toEqual({
      greedy: true,
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      uniform: 0,
      previousTokens: new Int32Array(0),
    });
    expect(fake.sampleCalls[1]!.request).toEqual({
      greedy: false,
      temperature: 0.75,
      topK: 0,
      topP: 0.875,
      repetitionPenalty: 1.25,
      uniform: 0.3,
      previousTokens: Int32Array.from([4, 1, 4, 49]),
    });
    const half = config.headDim / 2;
    const cos = new Float32Array(half);
    const sin = new Float32Array(half);
    ropeCosSin(ropeFrequencies(config.rope, config.headDim), 4, cos, sin);
    expect(fake.sampleCalls[1]!.cos).toEqual(cos);
  });

  it('temperature 0 is greedy, and penalty ids are dropped when the penalty is off', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    await ex.forwardSample(0, [1], {
      ...GREEDY,
      greedy: false,
      temperature: 0,
      uniform: 0.9,
      previousTokens: [3],
    });
    expect(fake.sampleCalls[0]!.request).toMatchObject({
      greedy: true,
      uniform: 0,
      previousTokens: new Int32Array(0),
    });
  });

  it('runs the same checks as forward before any GPU call', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    await expect(ex.forwardSample(0, [config.vocabSize], GREEDY)).rejects.toBeInstanceOf(TokenIdError);
    await expect(ex.forwardSample(0, new Array(21).fill(1), GREEDY)).rejects.toBeInstanceOf(CapacityError);
    await expect(ex.forwardSample(2, [1], GREEDY)).rejects.toThrow(/sequence 2 is outside/);
    await expect(ex.forwardSample(0, [], GREEDY)).rejects.toThrow(/at least one token/);
    await expect(ex.forwardSample(0, [1], GREEDY, { signal: AbortSignal.abort() })).rejects.toThrow(
      /aborted/,
    );
    expect(fake.sampleCalls).toHaveLength(0);
    expect(fake.calls).toHaveLength(0);
  });

  it('rejects invalid requests with SamplingError naming the field, before any GPU call', async () => {
    const fake = fakeNative(config.vocabSize);
    const ex = executor(fake.native);
    const sample = { ...GREEDY, greedy: false, uniform: 0.5 };
    const bad: [DeviceSampleRequest, RegExp][] = [
      [{ ...sample, topP: 0 }, /topP/],
      [{ ...sample, temperature: -1 }, /temperature/],
      [{ ...sample, topK: 1.5 }, /topK/],
      [{ ...sample, repetitionPenalty: 0 }, /repetitionPenalty/],
      [{ ...sample, uniform: 1 }, /uniform/],
      [{ ...sample, uniform: Number.NaN }, /uniform/],
      [{ ...sample, repetitionPenalty: 1.5, previousTokens: [1, config.vocabSize] }, /previousTokens\[1\]/],
      [{ ...sample, repetitionPenalty: 1.5, previousTokens: [-1] }, /previousTokens\[0\]/],
    ];
    for (const [request, message] of bad) {
      const error = await ex.forwardSample(0, [1], request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SamplingError);
      expect((error as Error).message).toMatch(message);
    }
    // A greedy request ignores uniform; a request without the penalty ignores the ids.
    await ex.forwardSample(0, [1], { ...GREEDY, uniform: 5, previousTokens: [-1] });
    expect(fake.sampleCalls).toHaveLength(1);
    expect(fake.calls).toHaveLength(0);
  });

  it('refuses a call on a busy sequence and after dispose', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const fake = fakeNative(config.vocabSize, { gate });
    const ex = executor(fake.native);
    const running = ex.forwardSample(0, [1, 2], GREEDY);
    await expect(ex.forwardSample(0, [3], GREEDY)).rejects.toBeInstanceOf(ExecutorBusyError);
    await expect(ex.forward(0, [3])).rejects.toBeInstanceOf(ExecutorBusyError);
    open();
    await running;
    await ex.dispose();
    await expect(ex.forwardSample(0, [3], GREEDY)).rejects.toBeInstanceOf(DisposedError);
  });

  it('an unsampleable row is a SamplingError after which the sequence has advanced', async () => {
    const message =
      'forwardSample of 2 tokens on sequence 1 at position 0: cannot select a token: the logits contain NaN';
    const fake = fakeNative(config.vocabSize, {
      sampleFail: Object.assign(new Error(message), { sampleCode: -1 }),
    });
    const ex = executor(fake.native);
    const error = await ex.forwardSample(1, [1, 2], GREEDY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SamplingError);
    expect((error as Error).message).toBe(message);
    expect(ex.length(1)).toBe(2);
    await ex.forward(1, [3]);
    expect(fake.calls.at(-1)!.start).toBe(2);
  });

  it('wraps other native failures in CudaRuntimeError and leaves the length unchanged', async () => {
    const fake = fakeNative(config.vocabSize, {
      sampleFail: Object.assign(new Error('boom'), { cudaError: 'cudaErrorLaunchFailure' }),
    });
    const ex = executor(fake.native);
    const error = await ex.forwardSample(1, [1, 2], GREEDY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CudaRuntimeError);
    expect((error as CudaRuntimeError).message).toMatch(
      /forwardSample of 2 tokens on sequence 1 at position 0: boom/,
    );
    expect((error as CudaRuntimeError).cudaError).toBe('cudaErrorLaunchFailure');
    expect(ex.length(1)).toBe(0);
  });

  it("samples on the host from forward's logits when fp32 would change the request", async () => {
    const requests: DeviceSampleRequest[] = [
      { ...GREEDY, greedy: false, temperature: 1e-300, uniform: 0.4 }, // rounds to 0: greedy on the device
      { ...GREEDY, greedy: false, temperature: 1e300, uniform: 0.4 }, // rounds to Infinity
      { ...GREEDY, greedy: false, topP: 1 - 1e-12, uniform: 0.99 }, // rounds to 1: top-p off
      { ...GREEDY, repetitionPenalty: 1 + 1e-12, previousTokens: [3] }, // rounds to 1: penalty off
    ];
    for (const request of requests) {
      const fake = fakeNative(config.vocabSize);
      const ex = executor(fake.native);
      const id = await ex.forwardSample(0, [1, 2], request);
      expect(fake.sampleCalls).toHaveLength(0);
      expect(fake.calls.map((c) => [c.start, c.ids, c.allLogits])).toEqual([[0, [1, 2], false]]);
      expect(ex.length(0)).toBe(2);
      const rng = { nextFloat: () => request.uniform, nextUint32: () => 0 };
      expect(id).toBe(sampleToken(fakeLogits(1, config.vocabSize), request, rng, request.previousTokens));
    }
  });
});
