// Turns continuous gates into a binary mask (1 = retrieval head with a full KV cache, 0 = streaming
// head). By sparsity it reproduces the original: add Uniform[0, 1e-6) noise from numpy's legacy
// stream (row-major), take numpy's linear quantile of the noisy gates, keep gates >= it.
import { PatternOptionError } from './errors.js';
import { Mt19937 } from './mt19937.js';
import { clipGate, type Matrix } from './pattern.js';

/** The seed used when none is given: the original's LongBench and efficiency scripts call seed(42). */
export const DEFAULT_SPARSIFY_SEED = 42;

/** How to binarise: exactly one of `sparsity` or `threshold`. */
export type SparsifyOptions =
  | { readonly sparsity: number; readonly threshold?: undefined; readonly seed?: number }
  | { readonly threshold: number; readonly sparsity?: undefined; readonly seed?: undefined };

/** A binary head mask with how it was obtained. */
export interface SparsifyResult {
  /** `[numLayers][numKvHeads]`, 1 = retrieval head, 0 = streaming head. */
  readonly mask: number[][];
  /** Number of retrieval heads in the mask. */
  readonly retrievalHeads: number;
  /** Achieved fraction of streaming heads: `1 - retrievalHeads / (numLayers * numKvHeads)`. */
  readonly sparsity: number;
  /** The gate threshold: given, or the quantile computed from the noisy gates. */
  readonly threshold: number;
}

/**
 * Binarises gates (clipped to [0, 1] first; the input is never mutated).
 *
 * - `sparsity` s (fraction of streaming heads): keeps exactly the `n - ceil((n - 1) * s)` heads
 *   with the largest gates for 0 < s < 1, all for s <= 0, none for s >= 1. Ties (many gates are
 *   exactly 1.0) are broken by numpy-compatible noise from `seed` (default 42), so the mask equals
 *   the original's after `np.random.seed(seed)` wherever the original's noise does not reorder two
 *   distinct gates (it can, for gates closer than 1e-6; we keep the larger gate). `threshold` is
 *   numpy's linear quantile of the noisy gates, as the original computes it.
 * - `threshold` t: keeps every head whose gate is >= t (the original's threshold path crashes).
 */
export function sparsify(alpha: Matrix, options: SparsifyOptions): SparsifyResult {
  const rows = alpha.map((row) => row.map(clipGate));
  const numHeads = rows.reduce((sum, row) => sum + row.length, 0);
  if (numHeads === 0) throw new PatternOptionError('cannot sparsify an empty pattern');
  if (options.threshold !== undefined) {
    if (options.sparsity !== undefined) throw new PatternOptionError('give sparsity or threshold, not both');
    if (!Number.isFinite(options.threshold)) {
      throw new PatternOptionError(`threshold must be a finite number, got ${options.threshold}`);
    }
    const threshold = options.threshold;
    return result(
      rows.map((row) => row.map((value) => (value >= threshold ? 1 : 0))),
      threshold,
    );
  }
  const { sparsity } = options;
  if (typeof sparsity !== 'number' || Number.isNaN(sparsity)) {
    throw new PatternOptionError(`sparsity must be a number, got ${sparsity}`);
  }
  const seed = options.seed ?? DEFAULT_SPARSIFY_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new PatternOptionError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  const random = new Mt19937(seed);
  const heads: { gate: number; noisy: number; flat: number }[] = [];
  rows.forEach((row) => {
    for (const gate of row) {
      heads.push({ gate, noisy: gate + random.nextUniform(0, 1e-6), flat: heads.length });
    }
  });
  // The kept heads are exactly the top-k by gate. The noise only orders heads whose gates are equal
  // (the original adds it to the gates, so it could also reorder distinct gates closer than 1e-6,
  // e.g. 0 and 2.5e-8 in Llama-2-7B-32K, and keep the smaller one); an exact tie of noise too falls
  // to the lower (layer, head) index.
  const ascending = [...heads].sort((a, b) => a.gate - b.gate || a.noisy - b.noisy || b.flat - a.flat);
  const threshold =
    sparsity >= 1
      ? 2
      : sparsity <= 0
        ? -1
        : linearQuantile(
            heads.map((e) => e.noisy).sort((a, b) => a - b),
            sparsity,
          );
  const keep = retrievalCount(numHeads, sparsity);
  const kept = new Uint8Array(numHeads);
  for (let i = numHeads - keep; i < numHeads; i++) kept[ascending[i]!.flat] = 1;
  let flat = 0;
  return result(
    rows.map((row) => row.map(() => kept[flat++]!)),
    threshold,
  );
}

/**
 * How many of `numHeads` heads are retrieval heads at `sparsity`: `n - ceil((n - 1) * s)`, with
 * `(n - 1) * s` evaluated in doubles exactly as numpy's linear quantile does.
 */
export function retrievalCount(numHeads: number, sparsity: number): number {
  if (sparsity <= 0) return numHeads;
  if (sparsity >= 1) return 0;
  return numHeads - Math.ceil((numHeads - 1) * sparsity);
}

/** numpy.quantile(values, q) with the default "linear" method; `sorted` must be ascending. */
export function linearQuantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  const virtualIndex = (n - 1) * q;
  if (virtualIndex >= n - 1) return sorted[n - 1]!;
  if (virtualIndex < 0) return sorted[0]!;
  const previous = Math.floor(virtualIndex);
  const gamma = virtualIndex - previous;
  const a = sorted[previous]!;
  const b = sorted[previous + 1]!;
  const difference = b - a;
  // numpy's _lerp: a + d*t below t = 0.5, b - d*(1 - t) from there on.
  return gamma >= 0.5 ? b - difference * (1 - gamma) : a + difference * gamma;
}

function result(mask: number[][], threshold: number): SparsifyResult {
  const numHeads = mask.reduce((sum, row) => sum + row.length, 0);
  const retrievalHeads = mask.reduce((sum, row) => sum + row.reduce((s, v) => s + v, 0), 0);
  return { mask, retrievalHeads, sparsity: 1 - retrievalHeads / numHeads, threshold };
}
