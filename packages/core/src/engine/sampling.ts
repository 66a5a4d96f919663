// Token selection from one row of logits, following Hugging Face generate's processor order so that
// seeded runs are reproducible on every platform and comparable with the original's settings.
import { DuoError } from '../errors.js';
import { foldSeed, mulberry32Uint32 } from '../random.js';

/** Thrown for invalid sampling options or logits that cannot be sampled from (code `E_SAMPLING`). */
export class SamplingError extends DuoError {
  constructor(message: string) {
    super('E_SAMPLING', message);
    this.name = 'SamplingError';
  }
}

/** A deterministic source of uniform numbers; the same seed gives the same stream everywhere. */
export interface Rng {
  /** Next 32-bit unsigned integer. */
  nextUint32(): number;
  /** Next float uniformly in [0, 1), with 32 bits of resolution. */
  nextFloat(): number;
}

/**
 * Creates a mulberry32 generator. Only integer arithmetic (`Math.imul`, shifts) is used, so the
 * stream is bit-identical across platforms and engines. `seed` must be a safe integer (negative
 * allowed); its high bits are folded into the 32-bit state.
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new SamplingError(`seed must be a safe integer, got ${String(seed)}`);
  }
  const nextUint32 = mulberry32Uint32(foldSeed(seed));
  return { nextUint32, nextFloat: () => nextUint32() / 0x1_0000_0000 };
}

/** How to pick the next token. Every field is optional; the defaults sample from the plain softmax. */
export interface SamplingOptions {
  /** Pick the argmax (ties -> lowest id) after the repetition penalty. Default false. */
  readonly greedy?: boolean;
  /** Softmax temperature, >= 0; 0 means greedy. Default 1. */
  readonly temperature?: number;
  /** Keep only the k highest logits (ties -> lower ids first); integer >= 0, 0 = off. Default 0. */
  readonly topK?: number;
  /** Nucleus: keep the fewest most-probable tokens whose probability sums to >= topP; in (0, 1]. Default 1 (off). */
  readonly topP?: number;
  /** CTRL penalty for ids already seen: logit > 0 is divided by it, otherwise multiplied; > 0. Default 1 (off). */
  readonly repetitionPenalty?: number;
}

/** Sampling options with defaults filled in and checked. */
export interface ResolvedSamplingOptions {
  readonly greedy: boolean;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly repetitionPenalty: number;
}

/** Checks options and fills in defaults; throws {@link SamplingError} naming the bad field. */
export function resolveSamplingOptions(options: SamplingOptions = {}): ResolvedSamplingOptions {
  const { greedy = false, temperature = 1, topK = 0, topP = 1, repetitionPenalty = 1 } = options;
  if (typeof greedy !== 'boolean') {
    throw new SamplingError(`greedy must be a boolean, got ${String(greedy)}`);
  }
  if (!(Number.isFinite(temperature) && temperature >= 0)) {
    throw new SamplingError(`temperature must be a finite number >= 0, got ${String(temperature)}`);
  }
  if (!(Number.isSafeInteger(topK) && topK >= 0)) {
    throw new SamplingError(`topK must be an integer >= 0 (0 = off), got ${String(topK)}`);
  }
  if (!(typeof topP === 'number' && topP > 0 && topP <= 1)) {
    throw new SamplingError(`topP must be in (0, 1], got ${String(topP)}`);
  }
  if (!(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0)) {
    throw new SamplingError(
      `repetitionPenalty must be a finite number > 0, got ${String(repetitionPenalty)}`,
    );
  }
  return { greedy: greedy || temperature === 0, temperature, topK, topP, repetitionPenalty };
}

/**
 * Index of the largest value, ties -> lowest index. Throws {@link SamplingError} on an empty row
 * or a NaN (a NaN logit means the backend produced garbage; sampling around it would hide that).
 */
export function argmax(row: ArrayLike<number>): number {
  if (row.length === 0) throw new SamplingError('cannot take the argmax of an empty logits row');
  let best = 0;
  let bestValue = row[0]!;
  for (let i = 0; i < row.length; i++) {
    const value = row[i]!;
    if (Number.isNaN(value)) throw new SamplingError(`logits contain NaN at token id ${i}`);
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

/**
 * Applies the CTRL repetition penalty in place to `scores` (`[vocabSize]`) for every distinct id in
 * `previousTokens`. Ids outside the vocabulary are an error.
 */
export function applyRepetitionPenalty(
  scores: Float64Array,
  previousTokens: Iterable<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  const vocabSize = scores.length;
  const seen = new Uint8Array(vocabSize);
  for (const id of previousTokens) {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      throw new SamplingError(`previous token ${String(id)} is outside the vocabulary [0, ${vocabSize})`);
    }
    if (seen[id] === 1) continue;
    seen[id] = 1;
    const value = scores[id]!;
    scores[id] = value > 0 ? value / penalty : value * penalty;
  }
}

/** Orders (score desc, id asc): true when token `a` ranks strictly before token `b`. */
function ranksBefore(scores: Float64Array, a: number, b: number): boolean {
  const sa = scores[a]!;
  const sb = scores[b]!;
  return sa > sb || (sa === sb && a < b);
}

/** The `k` best ids of `scores` by (score desc, id asc), via a size-k heap whose root is the worst kept. */
function topKIds(scores: Float64Array, k: number): Int32Array {
  const heap = new Int32Array(k);
  let size = 0;
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (left < size && ranksBefore(scores, heap[worst]!, heap[left]!)) worst = left;
      if (right < size && ranksBefore(scores, heap[worst]!, heap[right]!)) worst = right;
      if (worst === i) return;
      const tmp = heap[i]!;
      heap[i] = heap[worst]!;
      heap[worst] = tmp;
      i = worst;
    }
  };
  for (let id = 0; id < scores.length; id++) {
    if (size < k) {
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!ranksBefore(scores, heap[parent]!, heap[i]!)) break;
        const tmp = heap[i]!;
        heap[i] = heap[parent]!;
        heap[parent] = tmp;
        i = parent;
      }
    } else if (ranksBefore(scores, id, heap[0]!)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap;
}

/**
 * The nucleus of `candidates`: the fewest ids, taken by (weight desc, id asc), whose weights sum to
 * at least `topP * total`, never fewer than one. Exact, but sorts only ids above an adaptive weight
 * threshold: ids below it rank after every id above it, so if the ids above it already reach the
 * target the nucleus lies among them.
 */
function nucleus(weights: Float64Array, candidates: Int32Array, total: number, topP: number): Int32Array {
  const target = topP * total;
  let maxWeight = 0;
  for (const id of candidates) maxWeight = Math.max(maxWeight, weights[id]!);
  let threshold = maxWeight / 1024;
  for (;;) {
    const above: number[] = [];
    for (const id of candidates) if (weights[id]! >= threshold) above.push(id);
    above.sort((a, b) => weights[b]! - weights[a]! || a - b);
    let sum = 0;
    for (let n = 0; n < above.length; n++) {
      sum += weights[above[n]!]!;
      if (sum >= target) return Int32Array.from(above.slice(0, n + 1));
    }
    // Rounding can leave the full sum a hair below the target: then everything is kept.
    if (threshold === 0 || above.length === candidates.length) return Int32Array.from(above);
    threshold = threshold > 1e-300 ? threshold / 0x10_0000 : 0;
  }
}

/**
 * Picks the next token from one row of logits (`[vocabSize]` f32), applying in Hugging Face's
 * order: repetition penalty over `previousTokens` (prompt + generated), then greedy argmax or
 * temperature, top-k, top-p and a draw from `rng`. Does not modify `logits`.
 */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions | ResolvedSamplingOptions,
  rng: Rng,
  previousTokens: Iterable<number> = [],
): number {
  const resolved = resolveSamplingOptions(options);
  const vocabSize = logits.length;
  if (vocabSize === 0) throw new SamplingError('cannot sample from an empty logits row');
  const scores = Float64Array.from(logits);
  applyRepetitionPenalty(scores, previousTokens, resolved.repetitionPenalty);
  if (resolved.greedy) return argmax(scores);
  for (let i = 0; i < vocabSize; i++) {
    const value = scores[i]!;
    if (Number.isNaN(value)) throw new SamplingError(`logits contain NaN at token id ${i}`);
    scores[i] = value / resolved.temperature;
  }

  let candidates: Int32Array | null =
    resolved.topK > 0 && resolved.topK < vocabSize ? topKIds(scores, resolved.topK) : null;
  const count = candidates ? candidates.length : vocabSize;
  const idAt = (n: number): number => (candidates ? candidates[n]! : n);

  // Unnormalised softmax over the candidates; ids at the maximum get weight 1 even when it is infinite.
  let max = Number.NEGATIVE_INFINITY;
  for (let n = 0; n < count; n++) max = Math.max(max, scores[idAt(n)]!);
  if (max === Number.NEGATIVE_INFINITY) throw new SamplingError('every candidate token has logit -Infinity');
  const weights = new Float64Array(vocabSize);
  let total = 0;
  for (let n = 0; n < count; n++) {
    const id = idAt(n);
    const value = scores[id]!;
    const weight = value === max ? 1 : Math.exp(value - max);
    weights[id] = weight;
    total += weight;
  }

  if (resolved.topP < 1) {
    const all = candidates ?? Int32Array.from({ length: vocabSize }, (_, id) => id);
    candidates = nucleus(weights, all, total, resolved.topP);
    total = 0;
    for (const id of candidates) total += weights[id]!;
  }

  // Draw by walking the kept ids in ascending id order.
  const kept = candidates ? Int32Array.from(candidates).sort() : null;
  const keptCount = kept ? kept.length : vocabSize;
  const u = rng.nextFloat() * total;
  let cumulative = 0;
  let last = -1;
  for (let n = 0; n < keptCount; n++) {
    const id = kept ? kept[n]! : n;
    const weight = weights[id]!;
    if (weight === 0) continue;
    last = id;
    cumulative += weight;
    if (u < cumulative) return id;
  }
  // Reached only through rounding (u within an ulp of total): the last id with weight wins.
  if (last < 0) throw new SamplingError('no token has a positive probability');
  return last;
}
