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
  readonly onProgress?: (message: string) => void;
}

export interface DecodeMeasurement {
  readonly context: number;
  readonly msPerToken: number;
  readonly minMsPerToken: number;
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

/** Measures decode at each context on sequence 0 of `executor` (which must hold max(context) + steps). */
export async function benchmarkDecode(
  executor: Executor,
  options: DecodeBenchmarkOptions,
): Promise<DecodeMeasurement[]> {
  const steps = options.steps ?? 8;
  const warmup = options.warmup ?? 2;
  const token = options.token ?? 1;
  const results: DecodeMeasurement[] = [];
  for (const context of options.contexts) {
    options.onProgress?.(`filling ${context} tokens`);
    executor.reset(0);
    let filled: DecodeMeasurement['filled'] = 'synthetic';
    if (executor.fillSyntheticCache) {
      await executor.fillSyntheticCache(0, context, options.seed ?? 0);
    } else {
      filled = 'prefill';
      const chunk = 1024;
      for (let start = 0; start < context; start += chunk) {
        await executor.forward(0, new Array(Math.min(chunk, context - start)).fill(token));
      }
    }
    const memory = executor.memory();
    for (let i = 0; i < warmup; i++) await executor.forward(0, [token]);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      await executor.forward(0, [token]);
      times.push(performance.now() - start);
    }
    const allocatedAfterSteps = executor.memory().kvBytesAllocated;
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    results.push({
      context,
      msPerToken: median,
      minMsPerToken: times[0]!,
      tokensPerSecond: 1000 / median,
      kvBytesUsed: memory.kvBytesUsed,
      retrievalKvBytesUsed: memory.retrievalKvBytesUsed,
      streamingKvBytesUsed: memory.streamingKvBytesUsed,
      kvBytesAllocated: memory.kvBytesAllocated,
      kvBytesAllocatedAfterSteps: allocatedAfterSteps,
      rssBytes: process.memoryUsage().rss,
      filled,
    });
    options.onProgress?.(`context ${context}: ${median.toFixed(2)} ms/token`);
  }
  executor.reset(0);
  return results;
}
