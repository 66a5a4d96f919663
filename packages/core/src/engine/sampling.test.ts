import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import {
  applyRepetitionPenalty,
  argmax,
  createRng,
  type Rng,
  resolveSamplingOptions,
  SamplingError,
  type SamplingOptions,
  sampleToken,
} from './sampling.js';

/** An Rng that returns the given floats in turn. */
function fixedRng(...values: number[]): Rng {
  let i = 0;
  return {
    nextUint32: () => Math.floor(values[i++ % values.length]! * 0x1_0000_0000),
    nextFloat: () => values[i++ % values.length]!,
  };
}

/** Logits whose softmax is exactly proportional to `probs`. */
const logitsOf = (probs: number[]): Float32Array => Float32Array.from(probs, Math.log);
const PROBS = [0.1, 0.2, 0.3, 0.4]; // cumulative 0.1, 0.3, 0.6, 1.0

const draw = (
  options: SamplingOptions,
  u: number,
  logits = logitsOf(PROBS),
  previous: number[] = [],
): number => sampleToken(logits, options, fixedRng(u), previous);

describe('createRng', () => {
  it('is reproducible per seed and differs across seeds', () => {
    const take = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.nextUint32());
    expect(take(createRng(42), 8)).toEqual(take(createRng(42), 8));
    expect(take(createRng(42), 8)).not.toEqual(take(createRng(43), 8));
    // High bits of the seed matter too.
    expect(take(createRng(2 ** 40), 4)).not.toEqual(take(createRng(0), 4));
    expect(take(createRng(-1), 4)).not.toEqual(take(createRng(1), 4));
  });

  it('produces the mulberry32 stream (pinned so it never drifts across platforms)', () => {
    // Reference values of mulberry32 with seed 0, first three outputs.
    const rng = createRng(0);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([1144304738, 1416247, 958946056]);
  });

  it('gives floats in [0, 1) and is roughly uniform', () => {
    const rng = createRng(7);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = rng.nextFloat();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
  });

  it('rejects non-integer seeds', () => {
    expect(() => createRng(1.5)).toThrow(SamplingError);
    expect(() => createRng(Number.NaN)).toThrow(/seed/);
  });
});

describe('argmax and greedy', () => {
  it('breaks ties toward the lowest id', () => {
    expect(argmax(Float32Array.from([1, 3, 3, 2]))).toBe(1);
    expect(draw({ greedy: true }, 0.99, Float32Array.from([1, 3, 3, 2]))).toBe(1);
  });

  it('treats temperature 0 as greedy', () => {
    expect(resolveSamplingOptions({ temperature: 0 }).greedy).toBe(true);
    expect(draw({ temperature: 0 }, 0.0)).toBe(3);
  });

  it('rejects NaN logits and empty rows', () => {
    expect(() => argmax(Float32Array.from([0, Number.NaN]))).toThrow(/NaN at token id 1/);
    expect(() => draw({}, 0.5, Float32Array.from([0, Number.NaN]))).toThrow(SamplingError);
    expect(() => argmax(new Float32Array(0))).toThrow(SamplingError);
    expect(() =>
      draw({}, 0.5, Float32Array.from([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY])),
    ).toThrow(/-Infinity/);
  });
});

describe('repetition penalty', () => {
  it('divides positive and multiplies non-positive logits of seen ids, once per id', () => {
    const scores = Float64Array.from([2, -1, 0.5, 1.5, 0]);
    applyRepetitionPenalty(scores, [0, 1, 1, 1, 4], 2);
    expect(Array.from(scores)).toEqual([1, -2, 0.5, 1.5, 0]);
  });

  it('runs before greedy selection', () => {
    const logits = Float32Array.from([2, -1, 0.5, 1.5]);
    expect(draw({ greedy: true }, 0, logits)).toBe(0);
    expect(draw({ greedy: true, repetitionPenalty: 2 }, 0, logits, [0, 1])).toBe(3);
    // A penalty below 1 favours seen ids instead.
    expect(draw({ greedy: true, repetitionPenalty: 0.5 }, 0, logits, [3])).toBe(3);
  });

  it('rejects previous ids outside the vocabulary', () => {
    expect(() => draw({ repetitionPenalty: 1.2 }, 0, logitsOf(PROBS), [4])).toThrow(/outside the vocabulary/);
  });
});

describe('sampling', () => {
  it('draws by the cumulative softmax in id order', () => {
    expect([0.05, 0.15, 0.35, 0.65, 0.999].map((u) => draw({}, u))).toEqual([0, 1, 2, 3, 3]);
  });

  it('applies temperature to the logits', () => {
    // Logits 2*ln(p) at temperature 2 give back p.
    const doubled = Float32Array.from(PROBS, (p) => 2 * Math.log(p));
    expect([0.05, 0.15, 0.35, 0.65].map((u) => draw({ temperature: 2 }, u, doubled))).toEqual([0, 1, 2, 3]);
    // At temperature 1 the same logits give p^2 / sum: [1, 4, 9, 16] / 30, cumulative 1/30, 5/30, 14/30.
    expect([0.02, 0.1, 0.3, 0.5].map((u) => draw({}, u, doubled))).toEqual([0, 1, 2, 3]);
  });

  it('top-k keeps the k highest logits and renormalises', () => {
    // k = 2 keeps ids 2, 3 with probabilities 3/7 = 0.4286 and 4/7.
    expect(draw({ topK: 2 }, 0.0)).toBe(2);
    expect(draw({ topK: 2 }, 0.42)).toBe(2);
    expect(draw({ topK: 2 }, 0.44)).toBe(3);
    // Ties at the cut keep the lower ids.
    expect(draw({ topK: 2 }, 0.99, Float32Array.from([1, 1, 1, 0]))).toBe(1);
    // k >= vocabulary size is no filter.
    expect(draw({ topK: 10 }, 0.05)).toBe(0);
  });

  it('top-k = 1 is greedy', () => {
    const rng = createRng(3);
    const logits = Float32Array.from([0.3, 2.5, -1, 2.4999, 1]);
    for (let i = 0; i < 20; i++) expect(sampleToken(logits, { topK: 1, temperature: 3 }, rng)).toBe(1);
  });

  it('top-p keeps the smallest most-probable set reaching top-p, at least one token', () => {
    // Sorted 0.4, 0.3, 0.2, 0.1; cumulative 0.4, 0.7, 0.9, 1.0.
    expect(draw({ topP: 0.65 }, 0.0)).toBe(2); // keeps {2, 3}
    expect(draw({ topP: 0.65 }, 0.42)).toBe(2);
    expect(draw({ topP: 0.65 }, 0.44)).toBe(3);
    expect(draw({ topP: 0.75 }, 0.0)).toBe(1); // keeps {1, 2, 3}
    expect(draw({ topP: 0.3 }, 0.0)).toBe(3); // keeps {3}
    expect(draw({ topP: 1e-9 }, 0.0)).toBe(3);
    expect(draw({ topP: 1 }, 0.05)).toBe(0);
  });

  it('applies top-k before top-p', () => {
    // Alone, top-p 0.5 keeps {2, 3}; after top-k 2 the probabilities are 3/7, 4/7 and it keeps {3}.
    expect(draw({ topP: 0.5 }, 0.0)).toBe(2);
    expect(draw({ topK: 2, topP: 0.5 }, 0.0)).toBe(3);
  });

  it('matches the probabilities over many seeded draws', () => {
    const rng = createRng(11);
    const counts = [0, 0, 0, 0];
    const logits = logitsOf(PROBS);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, {}, rng)]!++;
    counts.forEach((count, id) => {
      expect(Math.abs(count / n - PROBS[id]!)).toBeLessThan(0.015);
    });
  });

  it('does not modify the logits', () => {
    const logits = Float32Array.from([2, -1, 0.5, 1.5]);
    sampleToken(logits, { repetitionPenalty: 3, temperature: 0.5, topK: 2, topP: 0.9 }, createRng(1), [0, 1]);
    expect(Array.from(logits)).toEqual([2, -1, 0.5, 1.5]);
  });
});

/** Straightforward reference: full sorts, no heap or threshold tricks. */
function referenceSample(logits: Float32Array, options: Required<SamplingOptions>, u: number): number {
  const scores = Array.from(logits, (x) => x / options.temperature);
  let order = scores.map((_, id) => id).sort((a, b) => scores[b]! - scores[a]! || a - b);
  if (options.topK > 0) order = order.slice(0, options.topK);
  const max = scores[order[0]!]!;
  const weight = (id: number): number => Math.exp(scores[id]! - max);
  if (options.topP < 1) {
    const total = order.reduce((s, id) => s + weight(id), 0);
    let cumulative = 0;
    const kept: number[] = [];
    for (const id of order) {
      kept.push(id);
      cumulative += weight(id);
      if (cumulative >= options.topP * total) break;
    }
    order = kept;
  }
  order.sort((a, b) => a - b);
  const total = order.reduce((s, id) => s + weight(id), 0);
  let cumulative = 0;
  for (const id of order) {
    cumulative += weight(id);
    if (u * total < cumulative) return id;
  }
  return order[order.length - 1]!;
}

describe('sampleToken against a full-sort reference', () => {
  it('agrees on random logits, top-k, top-p and temperature', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 0.1, max: 4, noNaN: true }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (vocabSize, seed, integerLogits, topK, topP, temperature, u) => {
          const rng = createRng(seed);
          // Integer logits create many ties; spread ones create long tails.
          const logits = Float32Array.from({ length: vocabSize }, () =>
            integerLogits ? Math.floor(rng.nextFloat() * 4) : (rng.nextFloat() - 0.5) * 30,
          );
          const options = { greedy: false, temperature, topK, topP, repetitionPenalty: 1 };
          expect(sampleToken(logits, options, fixedRng(u))).toBe(referenceSample(logits, options, u));
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('option validation', () => {
  it.each([
    [{ temperature: -0.1 }, /temperature/],
    [{ temperature: Number.NaN }, /temperature/],
    [{ temperature: Number.POSITIVE_INFINITY }, /temperature/],
    [{ topK: 1.5 }, /topK/],
    [{ topK: -1 }, /topK/],
    [{ topP: 0 }, /topP/],
    [{ topP: 1.01 }, /topP/],
    [{ topP: Number.NaN }, /topP/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty/],
    [{ repetitionPenalty: -2 }, /repetitionPenalty/],
  ] as [SamplingOptions, RegExp][])('rejects %o', (options, message) => {
    let caught: unknown;
    try {
      resolveSamplingOptions(options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SamplingError);
    expect(DuoError.isInstance(caught) && caught.code).toBe('E_SAMPLING');
    expect(String(caught)).toMatch(message);
    expect(() => sampleToken(logitsOf(PROBS), options, createRng(0))).toThrow(SamplingError);
  });

  it('fills in defaults', () => {
    expect(resolveSamplingOptions()).toEqual({
      greedy: false,
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
    });
  });
});
