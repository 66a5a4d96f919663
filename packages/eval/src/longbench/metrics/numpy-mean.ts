// numpy's mean of a float64 array, bit for bit: LongBench-E averages its buckets with np.mean, whose
// sum is numpy's pairwise summation (eight partial sums per block of up to 128, halves beyond), not
// a left-to-right loop. The last bits can differ, and round(·, 2) can see that at a tie.

/** numpy's pairwise_sum over values[start, start + n). */
function pairwiseSum(values: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let sum = -0.0;
    for (let i = 0; i < n; i++) sum += values[start + i]!;
    return sum;
  }
  if (n <= 128) {
    const partial = values.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) partial[j]! += values[start + i + j]!;
    }
    let sum =
      partial[0]! +
      partial[1]! +
      (partial[2]! + partial[3]!) +
      (partial[4]! + partial[5]! + (partial[6]! + partial[7]!));
    for (; i < n; i++) sum += values[start + i]!;
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, n - half);
}

/** `np.mean(values)` for a list of Python floats (NaN for an empty list, as numpy gives). */
export function numpyMean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return pairwiseSum(values, 0, values.length) / values.length;
}
