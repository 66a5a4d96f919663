// The decode benchmark's bookkeeping on the reference backend: what it fills, how many steps it
// runs and how it counts tokens (no timing is checked).
import { createRandomModel, createReferenceBackend, fullPolicy } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { benchmarkDecode } from './decode-benchmark.js';

const model = createRandomModel({ seed: 1, numLayers: 1, vocabSize: 32 });

describe('benchmarkDecode', () => {
  it('decodes several sequences together with forwardBatch and counts tokens of all of them', async () => {
    const executor = await createReferenceBackend().load(model, fullPolicy(model.config), {
      maxTokens: 16,
      maxSequences: 3,
    });
    const calls: number[] = [];
    const forwardBatch = executor.forwardBatch!.bind(executor);
    executor.forwardBatch = (steps, options) => {
      calls.push(steps.length);
      return forwardBatch(steps, options);
    };
    const [measurement] = await benchmarkDecode(executor, { contexts: [8], steps: 3, warmup: 1, batch: 3 });
    expect(calls).toEqual([3, 3, 3, 3]);
    expect(measurement!.batch).toBe(3);
    expect(measurement!.tokensPerSecond).toBeCloseTo((3 * 1000) / measurement!.msPerToken, 6);
    const { numLayers, numKvHeads, headDim } = model.config;
    // Three sequences of 8 tokens, K and V in fp32 for every layer and KV head.
    expect(measurement!.kvBytesUsed).toBe(3 * 8 * 2 * numLayers * numKvHeads * headDim * 4);
    // Every sequence is left empty.
    expect([0, 1, 2].map((sequence) => executor.length(sequence))).toEqual([0, 0, 0]);
    await executor.dispose();
  });

  it('refuses a batch on an executor without forwardBatch', async () => {
    const executor = await createReferenceBackend().load(model, fullPolicy(model.config), { maxTokens: 8 });
    // The same executor seen without its batched pass.
    const plain = Object.create(executor) as typeof executor;
    Object.defineProperty(plain, 'forwardBatch', { value: undefined });
    await expect(benchmarkDecode(plain, { contexts: [2], batch: 2 })).rejects.toThrow(/no batched decode/);
    await executor.dispose();
  });
});
