// The haystack generator's word-choosing helpers over core's integer-only mulberry32, which gives the
// same stream on every platform and engine (Math.random promises nothing of the kind).
import { foldSeed, mulberry32Uint32 } from '@duo-attn/core';

/** Mulberry32: a small 32-bit-state generator, good enough for choosing words, not for crypto. */
export class Mulberry32 {
  /** Next value, uniform in [0, 2^32). */
  readonly nextUint32: () => number;

  /** `seed` is any safe integer; seeds that differ anywhere in their 53 bits give different streams. */
  constructor(seed: number) {
    this.nextUint32 = mulberry32Uint32(foldSeed(seed));
  }

  /** Uniform integer in [0, n) for 0 < n <= 2^32 (modulo bias is below 1e-6 for our list sizes). */
  below(n: number): number {
    return this.nextUint32() % n;
  }

  /** Uniform integer in [low, high], both inclusive. */
  between(low: number, high: number): number {
    return low + this.below(high - low + 1);
  }

  /** True with probability `percent / 100` (integer arithmetic only). */
  chance(percent: number): boolean {
    return this.below(100) < percent;
  }

  /** A uniformly chosen element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}
