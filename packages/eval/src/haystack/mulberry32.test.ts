import { describe, expect, it } from 'vitest';
import { Mulberry32 } from './mulberry32.js';

function draws(seed: number, n: number): number[] {
  const rng = new Mulberry32(seed);
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe('Mulberry32', () => {
  it('repeats its stream for a seed and yields 32-bit unsigned integers', () => {
    const a = draws(123, 1000);
    expect(draws(123, 1000)).toEqual(a);
    for (const value of a) expect(Number.isInteger(value) && value >= 0 && value < 2 ** 32).toBe(true);
  });

  it('gives different streams for seeds that differ in low bits, high bits or sign', () => {
    const streams = [0, 1, 2 ** 32, -1, 2 ** 40 + 1].map((seed) => draws(seed, 4).join(','));
    expect(new Set(streams).size).toBe(streams.length);
  });

  it('spreads below(n) evenly', () => {
    const rng = new Mulberry32(9);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const bucket = rng.below(10);
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    }
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(600);
  });

  it('keeps between() inside its inclusive bounds and reaches both ends', () => {
    const rng = new Mulberry32(4);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const value = rng.between(3, 8);
      expect(value >= 3 && value <= 8).toBe(true);
      seen.add(value);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7, 8]);
  });
});
