// Decode latency against context length: the cache is pre-filled (synthetically when the backend
// can, else by a real prefill), then single-token steps are timed; median after warm-up.
import type { Executor } from '@duo-attn/core';

export interface DecodeBenchmarkOptions {
  /** Context lengths (tokens already in the cache) to measure at. */
  readonly contexts: readonly number[];
  /** Timed steps per context (default 8). */
  readonly steps?: number;
  /** Untimed steps first (default 2). */
  readonly warmup?: number;
  readonly seed?: number;
  /** Token fed at every step (default 1). */
  readonly token?: number;
  /**
   * Sequences decoding together (default 1): each is filled to the context and every timed step is
   * one `forwardBatch` pass over all of them (the executor must hold this many sequences and have
   * `forwardBatch` when it is above 1).
   */
  readonly batch?: number;
  readonly onProgress?: (message: string) => void;
}

export interface DecodeMeasurement {
  readonly context: number;
  /** Sequences per step (1 unless `batch` was given). */
  readonly batch: number;
  /** Median wall time of one step (of all `batch` sequences). */
  readonly msPerToken: number;
  readonly minMsPerToken: number;
  /** Tokens generated per second, all sequences together: batch × 1000 / msPerToken. */
  readonly tokensPerSecond: number;
  /** KV bytes the executor reports holding at `context` tokens (before the timed steps). */
  readonly kvBytesUsed: number;
  readonly retrievalKvBytesUsed: number;
  readonly streamingKvBytesUsed: number;
  readonly kvBytesAllocated: number;
  /**
   * KV bytes allocated after the timed steps, before the sequence is reset: caches that grow as
   * they fill (the cpu and reference backends') may have grown during the steps.
   */
  readonly kvBytesAllocatedAfterSteps: number;
  /** Whole-process resident memory after the steps. */
  readonly rssBytes: number;
  /** How the context was filled. */
  readonly filled: 'synthetic' | 'prefill';
}

/**
 * Measures decode at each context on sequence 0 of `executor` (or sequences 0..batch-1 together),
 * which must hold max(context) + warmup + steps tokens per sequence.
 */
export async function benchmarkDecode(
  executor: Executor,
  options: DecodeBenchmarkOptions,
): Promise<DecodeMeasurement[]> {
  const steps = options.steps ?? 8;
  const warmup = options.warmup ?? 2;
  const token = options.token ?? 1;
  const batch = options.batch ?? 1;
  if (!Number.isSafeInteger(batch) || batch < 1)
    throw new RangeError(`batch must be a positive integer, got ${batch}`);
  const forwardBatch = executor.forwardBatch?.bind(executor);
  if (batch > 1 && forwardBatch === undefined) {
    throw new RangeError(
      `the ${executor.backendName} backend has no batched decode (forwardBatch); use batch 1`,
    );
  }
  const sequences = Array.from({ length: batch }, (_, sequence) => sequence);
  const step = async (): Promise<void> => {
    if (batch === 1) await executor.forward(0, [token]);
    else await forwardBatch!(sequences.map((sequence) => ({ sequence, token })));
  };
  const results: DecodeMeasurement[] = [];
  for (const context of options.contexts) {
    options.onProgress?.(`filling ${context} tokens${batch > 1 ? ` in ${batch} sequences` : ''}`);
    let filled: DecodeMeasurement['filled'] = 'synthetic';
    for (const sequence of sequences) {
      executor.reset(sequence);
      if (executor.fillSyntheticCache) {
        await executor.fillSyntheticCache(sequence, context, (options.seed ?? 0) + sequence);
      } else {
        filled = 'prefill';
        const chunk = 1024;
        for (let start = 0; start < context; start += chunk) {
          await executor.forward(sequence, new Array(Math.min(chunk, context - start)).fill(token));
        }
      }
    }
    const memory = executor.memory();
    for (let i = 0; i < warmup; i++) await step();
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      await step();
      times.push(performance.now() - start);
    }
    const allocatedAfterSteps = executor.memory().kvBytesAllocated;
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    results.push({
      context,
      batch,
      msPerToken: median,
      minMsPerToken: times[0]!,
      tokensPerSecond: (batch * 1000) / median,
      kvBytesUsed: memory.kvBytesUsed,
      retrievalKvBytesUsed: memory.retrievalKvBytesUsed,
      streamingKvBytesUsed: memory.streamingKvBytesUsed,
      kvBytesAllocated: memory.kvBytesAllocated,
      kvBytesAllocatedAfterSteps: allocatedAfterSteps,
      rssBytes: process.memoryUsage().rss,
      filled,
    });
    options.onProgress?.(
      `context ${context}${batch > 1 ? ` x ${batch} sequences` : ''}: ${median.toFixed(2)} ms/step`,
    );
  }
  for (const sequence of sequences) executor.reset(sequence);
  return results;
}
