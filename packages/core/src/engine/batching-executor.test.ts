// The continuous-batching wrapper over the reference backend: concurrent generations give the same
// tokens as one at a time, their steps really share passes, and aborts, failures and disposal reach
// only the steps they concern.
import { describe, expect, it } from 'vitest';
import type { DecodeBatchResult, DecodeStep, Executor } from '../backend/backend.js';
import { AbortedError, CapacityError, DisposedError } from '../backend/backend-errors.js';
import { createRandomModel } from '../model/random-model-source.js';
import { fullPolicy, policyFromMask } from '../policy/create-policy.js';
import { createReferenceBackend } from '../reference/reference-backend.js';
import { type BatchCapableExecutor, BatchingExecutor, canBatchDecode } from './batching-executor.js';
import { collectGeneration, generate } from './engine.js';

const model = createRandomModel({ seed: 3, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 64 });
const mixed = policyFromMask(
  [
    [1, 0],
    [0, 1],
  ],
  { sinkSize: 2, recentSize: 4 },
);

async function load(maxSequences: number, maxTokens = 64): Promise<BatchCapableExecutor> {
  const executor = await createReferenceBackend().load(model, mixed, { maxTokens, maxSequences });
  if (!canBatchDecode(executor)) throw new Error('the reference executor should have forwardBatch');
  return executor;
}

const prompts = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16], [17]];

/** Counts the forwardBatch passes and their sizes. */
function spy(executor: BatchCapableExecutor): { sizes: number[]; executor: BatchCapableExecutor } {
  const sizes: number[] = [];
  const forwardBatch = executor.forwardBatch.bind(executor);
  executor.forwardBatch = (steps: readonly DecodeStep[], options?: { signal?: AbortSignal }) => {
    sizes.push(steps.length);
    return forwardBatch(steps, options);
  };
  return { sizes, executor };
}

describe('BatchingExecutor', () => {
  it('gives concurrent generations the tokens each gets alone, in shared passes', async () => {
    const alone = await load(1);
    const expected: number[][] = [];
    for (const prompt of prompts) {
      alone.reset(0);
      const result = await collectGeneration(generate(alone, prompt, { greedy: true, maxNewTokens: 12 }));
      expected.push([...result.tokens]);
    }
    await alone.dispose();

    const { sizes, executor: inner } = spy(await load(prompts.length));
    const batching = new BatchingExecutor(inner);
    const results = await Promise.all(
      prompts.map((prompt, sequence) =>
        collectGeneration(generate(batching, prompt, { greedy: true, maxNewTokens: 12, sequence })),
      ),
    );
    expect(results.map((result) => [...result.tokens])).toEqual(expected);
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBe(prompts.length);
    expect(batching.stats.batchedSteps).toBe(sizes.reduce((sum, size) => sum + size, 0));
    await batching.dispose();
  });

  it('passes prefill chunks and all-logits calls straight through', async () => {
    const { sizes, executor: inner } = spy(await load(2));
    const batching = new BatchingExecutor(inner);
    const chunk = await batching.forward(0, [1, 2, 3]);
    const allLogits = await batching.forward(1, [4], { allLogits: true });
    expect(chunk.numRows).toBe(1);
    expect(allLogits.numRows).toBe(1);
    expect(sizes).toEqual([]);
    expect(batching.length(0)).toBe(3);
    await batching.dispose();
  });

  it('rejects a step aborted while it waits at once, and runs the others', async () => {
    const batching = new BatchingExecutor(await load(3));
    await batching.forward(0, [1, 2]);
    const controller = new AbortController();
    const steps = [
      batching.forward(0, [3]),
      batching.forward(1, [4], { signal: controller.signal }),
      batching.forward(2, [5]),
    ];
    controller.abort(new Error('client left'));
    const outcomes = await Promise.allSettled(steps);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(AbortedError);
    expect([batching.length(0), batching.length(1), batching.length(2)]).toEqual([3, 0, 1]);
    await batching.dispose();
  });

  it('fails a step that exceeds maxTokens alone', async () => {
    const batching = new BatchingExecutor(await load(2, 4));
    await batching.forward(0, [1, 2, 3, 4]);
    const outcomes = await Promise.allSettled([batching.forward(0, [5]), batching.forward(1, [6])]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'fulfilled']);
    expect((outcomes[0] as PromiseRejectedResult).reason).toBeInstanceOf(CapacityError);
    await batching.dispose();
  });

  it('rejects every step of a pass the executor fails, and keeps serving', async () => {
    const inner = await load(2);
    const batching = new BatchingExecutor(inner);
    const original = inner.forwardBatch.bind(inner);
    let failNext = true;
    inner.forwardBatch = (steps, options): Promise<DecodeBatchResult> => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('device lost'));
      }
      return original(steps, options);
    };
    const failed = await Promise.allSettled([batching.forward(0, [1]), batching.forward(1, [2])]);
    expect(failed.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    const again = await Promise.all([batching.forward(0, [1]), batching.forward(1, [2])]);
    expect(again.every((result) => result.numRows === 1)).toBe(true);
    await batching.dispose();
  });

  it('rejects the steps still waiting on dispose', async () => {
    const batching = new BatchingExecutor(await load(2));
    const step = batching.forward(0, [1]);
    await batching.dispose();
    await expect(step).rejects.toBeInstanceOf(DisposedError);
    await expect(batching.forward(0, [1])).rejects.toBeInstanceOf(DisposedError);
  });

  it('is offered only for executors with forwardBatch', async () => {
    const executor: Executor = await createReferenceBackend().load(model, fullPolicy(model.config), {
      maxTokens: 8,
    });
    expect(canBatchDecode(executor)).toBe(true);
    const { forwardBatch: _, ...withoutBatch } = executor as BatchCapableExecutor;
    expect(canBatchDecode(withoutBatch as Executor)).toBe(false);
    await executor.dispose();
  });
});
