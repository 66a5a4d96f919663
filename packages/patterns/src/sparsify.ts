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
 * - `sparsity` s (fraction of streaming heads): keeps exactly `n - ceil((n - 1) * s)` heads for
 *   0 < s < 1, all for s <= 0, none for s >= 1. Ties (many gates are exactly 1.0) are broken by
 *   numpy-compatible noise from `seed` (default 42), so the mask equals the original's after
 *   `np.random.seed(seed)`; an exact tie of noisy values falls to the lower (layer, head) index.
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
  const noisy: { value: number; flat: number }[] = [];
  rows.forEach((row) => {
    for (const value of row) noisy.push({ value: value + random.nextUniform(0, 1e-6), flat: noisy.length });
  });
  const ascending = [...noisy].sort((a, b) => a.value - b.value || b.flat - a.flat);
  const threshold =
    sparsity >= 1
      ? 2
      : sparsity <= 0
        ? -1
        : linearQuantile(
            ascending.map((e) => e.value),
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
