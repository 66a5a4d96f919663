// Behaviour of the cpu executor beyond the goldens: the event loop stays free during a long
// prefill, typed errors with no state change, abort, dispose and worker crashes, memory reports,
// and dynamic-NTK RoPE state checked against the reference backend.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor, ModelSource } from '../backend/backend.js';
import { createRandomModel } from '../model/random-model-source.js';
import { fullPolicy, policyFromMask } from '../policy/create-policy.js';
import { mulberry32 } from '../random.js';
import { createReferenceBackend } from '../reference/reference-backend.js';
import { createCpuBackend } from './cpu-backend.js';
import { CpuWorkerError } from './cpu-errors.js';
import type { CpuExecutor } from './cpu-executor.js';

const backend = createCpuBackend();

function randomTokens(count: number, vocabSize: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => Math.floor(random() * vocabSize));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** A model big enough that a 2K-token prefill takes a noticeable time on one core. */
const big: ModelSource = createRandomModel({
  seed: 7,
  numLayers: 4,
  hiddenSize: 256,
  numHeads: 8,
  numKvHeads: 4,
  intermediateSize: 512,
  vocabSize: 512,
});
const mixedMask = [
  [1, 0, 1, 0],
  [0, 0, 1, 1],
  [1, 1, 1, 1],
  [0, 0, 0, 0],
];
const mixed = policyFromMask(mixedMask, { sinkSize: 4, recentSize: 16 });
const longPrompt = randomTokens(2048, big.config.vocabSize, 3);

describe('cpu backend', () => {
  it('is available here and names itself', async () => {
    expect(backend.name).toBe('cpu');
    expect(backend.capabilities.computeDtypes).toEqual(['fp32']);
    await expect(backend.isAvailable()).resolves.toEqual({ available: true });
  });

  it('rejects an unsupported cache dtype and bad load options like the reference backend', async () => {
    const small = createRandomModel();
    await expect(
      backend.load(small, fullPolicy(small.config, { cacheDtype: 'int4' }), { maxTokens: 8 }),
    ).rejects.toMatchObject({ code: 'E_MODEL_UNSUPPORTED' });
    await expect(backend.load(small, fullPolicy(small.config), { maxTokens: 0 })).rejects.toMatchObject({
      code: 'E_LOAD_OPTIONS',
    });
  });
});

describe('cpu executor on a 4-layer model', () => {
  let executor: CpuExecutor;
  beforeAll(async () => {
    executor = (await backend.load(big, mixed, { maxTokens: 4096, maxSequences: 3 })) as CpuExecutor;
  });
  afterAll(async () => {
    // Safe when setup failed: the failure is reported once, by the hook that failed.
    await executor?.dispose();
  });

  it('keeps the event loop running during a 2K-token prefill', async () => {
    executor.reset(0);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    try {
      const result = await executor.forward(0, longPrompt);
      expect(result.numRows).toBe(1);
    } finally {
      clearInterval(timer);
    }
    const elapsed = performance.now() - started;
    // A blocked loop would tick at most once; a free one ticks about every 5 ms. The bound is loose
    // (one tick per 100 ms on average) so a busy CI machine cannot make it flaky.
    expect(ticks).toBeGreaterThanOrEqual(Math.max(3, Math.floor(elapsed / 100)));
    expect(executor.length(0)).toBe(2048);
  });

  it('matches the reference backend on chunked prefill and decode with a mixed policy', async () => {
    const reference = await createReferenceBackend().load(big, mixed, { maxTokens: 64 });
    try {
      executor.reset(1);
      const tokens = longPrompt.slice(0, 40);
      for (const [from, to] of [
        [0, 24],
        [24, 37],
        [37, 38],
        [38, 39],
        [39, 40],
      ] as const) {
        const chunk = tokens.slice(from, to);
        const actual = await executor.forward(1, chunk, { allLogits: true });
        const expected = await reference.forward(0, chunk, { allLogits: true });
        expect(maxAbsDiff(actual.logits, expected.logits)).toBeLessThan(1e-3);
      }
    } finally {
      await reference.dispose();
    }
  });

  it('rejects bad calls with typed errors and leaves the sequence unchanged', async () => {
    executor.reset(1);
    await executor.forward(1, [1, 2, 3]);
    const vocab = big.config.vocabSize;
    await expect(executor.forward(1, [1, vocab])).rejects.toMatchObject({ code: 'E_TOKEN_ID', index: 1 });
    await expect(executor.forward(1, [1.5])).rejects.toMatchObject({ code: 'E_TOKEN_ID' });
    await expect(executor.forward(1, [])).rejects.toMatchObject({ code: 'E_INPUT' });
    await expect(executor.forward(3, [1])).rejects.toMatchObject({ code: 'E_INPUT' });
    await expect(executor.forward(1, new Array(4094).fill(1))).rejects.toMatchObject({ code: 'E_CAPACITY' });
    expect(() => executor.length(5)).toThrow(/sequence 5/);
    expect(executor.length(1)).toBe(3);
  });

  it('refuses to reset a sequence while a forward pass on it is running', async () => {
    executor.reset(1);
    const running = executor.forward(1, longPrompt.slice(0, 256));
    // The call starts once the queue reaches it (a microtask later), like the reference backend's.
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(() => executor.reset(1)).toThrow(expect.objectContaining({ code: 'E_BUSY' }));
    await running;
    expect(executor.length(1)).toBe(256);
  });

  it('an abort mid-run rejects at once and leaves the sequence unchanged', async () => {
    const prefix = longPrompt.slice(0, 64);
    const chunk = longPrompt.slice(64, 64 + 1536);
    executor.reset(0);
    executor.reset(1);
    await executor.forward(0, prefix);
    await executor.forward(1, prefix);

    const controller = new AbortController();
    const started = performance.now();
    const aborted = executor.forward(0, chunk, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user stop')), 20);
    await expect(aborted).rejects.toMatchObject({ code: 'E_ABORTED' });
    const rejectedAfter = performance.now() - started;
    expect(executor.length(0)).toBe(64);

    const timed = performance.now();
    const expected = await executor.forward(1, chunk, { allLogits: true });
    const fullRun = performance.now() - timed;
    // Rejected well before a whole run of the chunk could have finished.
    expect(rejectedAfter).toBeLessThan(fullRun);

    const again = await executor.forward(0, chunk, { allLogits: true });
    expect(executor.length(0)).toBe(64 + 1536);
    expect(maxAbsDiff(again.logits, expected.logits)).toBe(0);
    const next = [5];
    const a = await executor.forward(0, next);
    const b = await executor.forward(1, next);
    expect(maxAbsDiff(a.logits, b.logits)).toBe(0);
  });

  it('forwardBatch: an aborted batch advances no sequence, an aborted step only its own', async () => {
    executor.reset(0);
    executor.reset(1);
    const prefix = longPrompt.slice(0, 40);
    await executor.forward(0, prefix);
    await executor.forward(1, prefix.slice(0, 20));
    const steps = [
      { sequence: 0, token: 7 },
      { sequence: 1, token: 9 },
    ];
    // Whether the abort lands before the worker commits or after (then the commit is undone),
    // the outcome is the same.
    const whole = new AbortController();
    const batch = executor.forwardBatch!(steps, { signal: whole.signal });
    queueMicrotask(() => whole.abort(new Error('server shutting down')));
    await expect(batch).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect([executor.length(0), executor.length(1)]).toEqual([40, 20]);

    const one = new AbortController();
    const partial = executor.forwardBatch!([steps[0]!, { ...steps[1]!, signal: one.signal }]);
    queueMicrotask(() => one.abort(new Error('client left')));
    const result = await partial;
    expect(result.aborted).toEqual([false, true]);
    expect([executor.length(0), executor.length(1)]).toEqual([41, 20]);

    // The rolled-back sequence continues exactly as one that never saw the aborted step.
    executor.reset(2);
    const batched = await executor.forwardBatch!([{ sequence: 1, token: 9 }]);
    const fresh = await executor.forward(2, prefix.slice(0, 20)).then(() => executor.forward(2, [9]));
    expect(maxAbsDiff(batched.logits, fresh.logits)).toBeLessThan(1e-5);
    executor.reset(2);
  });

  it('reports KV memory by head class', async () => {
    executor.reset(0);
    executor.reset(1);
    expect(executor.memory().kvBytesUsed).toBe(0);
    expect(executor.memory().kvBytesAllocated).toBe(0);
    await executor.forward(0, longPrompt.slice(0, 100));
    const report = executor.memory();
    const d = big.config.headDim;
    const retrievalHeads = mixedMask.flat().filter((x) => x === 1).length;
    const streamingHeads = mixedMask.flat().length - retrievalHeads;
    expect(report.retrievalKvBytesUsed).toBe(4 * 2 * 100 * retrievalHeads * d);
    expect(report.streamingKvBytesUsed).toBe(4 * 2 * 20 * streamingHeads * d);
    expect(report.kvBytesUsed).toBe(report.retrievalKvBytesUsed + report.streamingKvBytesUsed);
    expect(report.kvBytesAllocated).toBeGreaterThanOrEqual(report.kvBytesUsed);
    const layer = big.weights.layers[0]!;
    expect(report.weightBytes).toBeGreaterThan(4 * big.config.numLayers * layer.qProj.length);
  });
});

describe('cpu executor lifecycle', () => {
  const small = createRandomModel({ seed: 3, numLayers: 2, hiddenSize: 128, numHeads: 4, numKvHeads: 2 });
  const smallPrompt = randomTokens(2048, small.config.vocabSize, 9);

  it('dispose rejects the running and queued calls, removes the graph, and later calls fail', async () => {
    const executor = (await backend.load(small, fullPolicy(small.config), {
      maxTokens: 4096,
    })) as CpuExecutor;
    const path = executor.graphPathForTesting;
    expect(existsSync(path)).toBe(true);
    const running = executor.forward(0, smallPrompt);
    const queued = executor.forward(0, [1]);
    // Once the call has started (no fixed sleep: a reset is refused while it runs), dispose in the
    // same turn of the event loop, so the worker's answer cannot be handled in between.
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => executor.reset(0)).toThrow(expect.objectContaining({ code: 'E_BUSY' }));
    const outcomes = Promise.all([
      expect(running).rejects.toMatchObject({ code: 'E_DISPOSED' }),
      expect(queued).rejects.toMatchObject({ code: 'E_DISPOSED' }),
    ]);
    const disposing = executor.dispose();
    // The callers hear about it at once, before the worker has finished its current run.
    await outcomes;
    await disposing;
    expect(existsSync(path)).toBe(false);
    await expect(executor.forward(0, [1])).rejects.toMatchObject({ code: 'E_DISPOSED' });
    expect(() => executor.length(0)).toThrow(expect.objectContaining({ code: 'E_DISPOSED' }));
    await executor.dispose();
  });

  it('a worker that exits rejects the pending call and every later one with a CpuWorkerError', async () => {
    const executor = (await backend.load(small, fullPolicy(small.config), {
      maxTokens: 4096,
    })) as CpuExecutor;
    try {
      const path = executor.graphPathForTesting;
      const pending = executor.forward(0, smallPrompt.slice(0, 512));
      executor.crashWorkerForTesting('exit');
      const error = await pending.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(CpuWorkerError);
      expect(error).toMatchObject({ code: 'E_CPU_WORKER', message: expect.stringMatching(/code 3/) });
      await expect(executor.forward(0, [1])).rejects.toBe(error);
      expect(() => executor.reset(0)).toThrow(error as Error);
      // The graph's files go once the worker is gone: soon, but how soon depends on the machine's load.
      await eventually(() => !existsSync(path), 'the graph file is removed');
    } finally {
      await executor.dispose();
    }
  });

  it('an uncaught exception in the worker fails the executor with the cause', async () => {
    const executor = (await backend.load(small, fullPolicy(small.config), { maxTokens: 64 })) as CpuExecutor;
    try {
      await executor.forward(0, [1, 2, 3]);
      executor.crashWorkerForTesting('throw');
      await eventually(() => {
        try {
          executor.reset(0); // throws the worker's failure once the executor knows of it
          return false;
        } catch {
          return true;
        }
      }, 'the executor hears of the crash');
      await expect(executor.forward(0, [4])).rejects.toMatchObject({
        code: 'E_CPU_WORKER',
        message: expect.stringMatching(/crashed: cpu worker crash requested by a test/),
      });
    } finally {
      await executor.dispose();
    }
  });
});

describe('cpu worker isolation', () => {
  const small = createRandomModel({ seed: 5, numLayers: 2, hiddenSize: 64, numHeads: 4, numKvHeads: 2 });

  it('a native crash (SIGSEGV) in the worker fails the executor, not the caller', async () => {
    const executor = (await backend.load(small, fullPolicy(small.config), { maxTokens: 64 })) as CpuExecutor;
    try {
      await executor.forward(0, [1, 2, 3]);
      const pending = executor.forward(0, randomTokens(32, small.config.vocabSize, 2));
      executor.crashWorkerForTesting('signal');
      await expect(pending).rejects.toMatchObject({
        code: 'E_CPU_WORKER',
        message: expect.stringMatching(/killed by SIGSEGV \(a native crash inside onnxruntime\)/),
      });
      await expect(executor.forward(0, [4])).rejects.toMatchObject({ code: 'E_CPU_WORKER' });
      // A fresh executor works: the caller's process was never touched.
      const again = await backend.load(small, fullPolicy(small.config), { maxTokens: 64 });
      await expect(again.forward(0, [1, 2, 3])).resolves.toMatchObject({ numRows: 1 });
      await again.dispose();
    } finally {
      await executor.dispose();
    }
  });

  // The built package (turbo builds it before tests); a plain node process cannot import the sources.
  const built = new URL('../../dist/index.js', import.meta.url);
  it.skipIf(!existsSync(built))('runs in a caller with a very long command line', async () => {
    // onnxruntime 1.30 runs a recursive regex over the process's command line and overflowed its
    // stack on 20 KB of arguments; the worker process now has a short command line of its own.
    const script = `
      const { createCpuBackend, createRandomModel, fullPolicy } = await import(${JSON.stringify(built.href)});
      const model = createRandomModel({ seed: 1 });
      const executor = await createCpuBackend().load(model, fullPolicy(model.config), { maxTokens: 8 });
      const result = await executor.forward(0, [1, 2]);
      await executor.dispose();
      console.log('rows', result.numRows);`;
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const long = 'x'.repeat(100_000);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '--eval', script, long, long],
      { maxBuffer: 1 << 20 },
    ).catch((error: { stdout?: string; stderr?: string; signal?: string }) => {
      throw new Error(`child failed (${error.signal ?? ''}): ${error.stderr ?? ''}`);
    });
    expect(stdout).toContain('rows 1');
  });
});

describe('dynamic-NTK RoPE state', () => {
  it('matches the reference backend across the original context length', async () => {
    const model = createRandomModel({
      seed: 11,
      maxPositionEmbeddings: 16,
      rope: { type: 'dynamic', theta: 10000, factor: 2, originalMaxPositionEmbeddings: 16 },
    });
    const policy = policyFromMask(
      [
        [1, 0],
        [0, 1],
      ],
      { sinkSize: 2, recentSize: 4 },
    );
    const tokens = randomTokens(40, model.config.vocabSize, 5);
    const cpu: Executor = await backend.load(model, policy, { maxTokens: 64 });
    const reference = await createReferenceBackend().load(model, policy, { maxTokens: 64 });
    try {
      for (const [from, to] of [
        [0, 10],
        [10, 30],
        [30, 31],
        [31, 40],
      ] as const) {
        const chunk = tokens.slice(from, to);
        const actual = await cpu.forward(0, chunk, { allLogits: true });
        const expected = await reference.forward(0, chunk, { allLogits: true });
        expect(maxAbsDiff(actual.logits, expected.logits)).toBeLessThan(1e-3);
      }
      // A short sequence after a long one resets the dynamic length (HF's rule), per sequence.
      cpu.reset(0);
      reference.reset(0);
      const short = tokens.slice(0, 8);
      const actual = await cpu.forward(0, short, { allLogits: true });
      const expected = await reference.forward(0, short, { allLogits: true });
      expect(maxAbsDiff(actual.logits, expected.logits)).toBeLessThan(1e-3);
    } finally {
      await cpu.dispose();
      await reference.dispose();
    }
  });
});

/** Waits until `condition` holds (polling; only a hang detector's deadline, never a speed bound). */
async function eventually(condition: () => boolean, what: string, deadlineMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
