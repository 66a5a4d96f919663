import { describe, expect, it } from 'vitest';
import { patternStatistics } from './statistics.js';

describe('patternStatistics', () => {
  it('computes Llama-3-8B-like figures by hand', () => {
    const mask = Array.from({ length: 32 }, () => [1, 1, 1, 1, 0, 0, 0, 0]);
    const alpha = mask.map((row) => row.map((v) => (v ? 0.9 : 0.1)));
    const stats = patternStatistics(alpha, mask, {
      headDim: 128,
      dtype: 'bf16',
      sinkSize: 64,
      recentSize: 256,
    });
    expect(stats.fullKvBytesPerToken).toBe(131072);
    expect(stats.policyKvBytesPerToken).toBe(65536);
    expect(stats.relativeKvBytesPerToken).toBe(0.5);
    expect(stats.retrievalHeads).toBe(128);
    expect(stats.retrievalHeadsPerLayer.every((n) => n === 4)).toBe(true);
    expect(stats.streamingKvBytes).toBe(128 * 320 * 2 * 256);
    expect(stats.meanAlpha).toBeCloseTo(0.5, 12);
  });

  it('counts the 4-bit cache with its fp16 scale and zero', () => {
    const stats = patternStatistics([[1, 0]], [[1, 0]], {
      headDim: 128,
      dtype: 'int4',
      sinkSize: 1,
      recentSize: 1,
    });
    expect(stats.policyKvBytesPerToken).toBe(2 * 68);
    expect(stats.streamingKvBytes).toBe(2 * 2 * 68);
  });

  it('rejects bad options', () => {
    expect(() => patternStatistics([[1]], [[1]], { headDim: 0, sinkSize: 0, recentSize: 0 })).toThrow(
      /head dim/,
    );
    expect(() =>
      patternStatistics([[1]], [[1]], { headDim: 3, dtype: 'int4', sinkSize: 0, recentSize: 0 }),
    ).toThrow(/even/);
    expect(() =>
      patternStatistics([[1]], [[1]], { dtype: 'int8' as never, sinkSize: 0, recentSize: 0 }),
    ).toThrow(/unknown KV dtype/);
  });
});
