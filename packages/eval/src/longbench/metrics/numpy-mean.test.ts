import { describe, expect, it } from 'vitest';
import { numpyMean } from './numpy-mean.js';

describe('numpyMean (np.mean, pairwise summation)', () => {
  it('sums the way numpy does, not left to right', () => {
    const tenths = Array.from({ length: 10 }, () => 0.1);
    // Left to right: 0.9999999999999999 / 10; numpy: (eight partial sums) + 0.1 + 0.1 = 1.0.
    expect(tenths.reduce((a, b) => a + b, 0) / 10).toBe(0.09999999999999999);
    expect(numpyMean(tenths)).toBe(0.1);
  });

  it('matches plain means where no rounding happens, and is NaN for no values', () => {
    expect(numpyMean([1, 0, 0.5])).toBe(0.5);
    expect(numpyMean(Array.from({ length: 300 }, (_, i) => i % 2))).toBe(0.5);
    expect(numpyMean([])).toBeNaN();
  });
});
