// Prefill throughput against chunk size: a prompt of fixed length is fed in chunks of each size on
// a fresh sequence; the median over repetitions is reported.
import type { Executor } from '@duo-attn/core';

export interface PrefillBenchmarkOptions {
  readonly promptLength: number;
  readonly chunkSizes: readonly number[];
  /** Timed repetitions per chunk size (default 3). */
  readonly repetitions?: number;
  readonly token?: number;
  readonly onProgress?: (message: string) => void;
}

export interface PrefillMeasurement {
  readonly chunkSize: number;
  readonly promptLength: number;
  readonly ms: number;
  readonly tokensPerSecond: number;
}

export async function benchmarkPrefill(
  executor: Executor,
  options: PrefillBenchmarkOptions,
): Promise<PrefillMeasurement[]> {
  const repetitions = options.repetitions ?? 3;
  const token = options.token ?? 1;
  const prompt = new Array<number>(options.promptLength).fill(token);
  const results: PrefillMeasurement[] = [];
  for (const chunkSize of options.chunkSizes) {
    const times: number[] = [];
    for (let r = 0; r < repetitions; r++) {
      executor.reset(0);
      const start = performance.now();
      for (let position = 0; position < prompt.length; position += chunkSize) {
        await executor.forward(0, prompt.slice(position, position + chunkSize));
      }
      times.push(performance.now() - start);
    }
    executor.reset(0);
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)]!;
    results.push({
      chunkSize,
      promptLength: prompt.length,
      ms,
      tokensPerSecond: (prompt.length * 1000) / ms,
    });
    options.onProgress?.(`chunk ${chunkSize}: ${((prompt.length * 1000) / ms).toFixed(0)} tokens/s`);
  }
  return results;
}
