import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from './__fixtures__/sparsify-vectors.json' with { type: 'json' };
import { PatternOptionError } from './errors.js';
import { Mt19937 } from './mt19937.js';
import { linearQuantile, retrievalCount, sparsify } from './sparsify.js';

const count = (mask: number[][]) => mask.flat().reduce((a, b) => a + b, 0);
const gatesArbitrary = fc
  .record({ layers: fc.integer({ min: 1, max: 12 }), heads: fc.integer({ min: 1, max: 9 }) })
  .chain(({ layers, heads }) =>
    fc.array(
      fc.array(fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: -0.01, max: 1.01, noNaN: true })), {
        minLength: heads,
        maxLength: heads,
      }),
      { minLength: layers, maxLength: layers },
    ),
  );

describe('Mt19937', () => {
  it('reproduces numpy legacy draws', () => {
    const random = new Mt19937(42);
    for (const expected of vectors.uniformSeed42) expect(random.nextUniform(0, 1e-6)).toBe(expected);
    const other = new Mt19937(12345);
    for (const expected of vectors.randomSampleSeed12345) expect(other.nextDouble()).toBe(expected);
  });
});

describe('sparsify by sparsity', () => {
  it('matches numpy on reference vectors (mask and threshold)', () => {
    for (const c of vectors.cases) {
      const result = sparsify(c.gates, { sparsity: c.sparsity, seed: c.seed });
      expect(result.mask).toEqual(c.mask);
      expect(result.threshold).toBe(c.threshold);
    }
  });

  it('keeps exactly n - ceil((n-1)s) heads, however many ties', () => {
    fc.assert(
      fc.property(
        gatesArbitrary,
        fc.double({ min: -0.5, max: 1.5, noNaN: true }),
        fc.nat(1000),
        (gates, s, seed) => {
          const n = gates.length * gates[0]!.length;
          const expected = s <= 0 ? n : s >= 1 ? 0 : n - Math.ceil((n - 1) * s);
          const result = sparsify(gates, { sparsity: s, seed });
          expect(count(result.mask)).toBe(expected);
          expect(result.retrievalHeads).toBe(expected);
          expect(result.sparsity).toBeCloseTo(1 - expected / n, 12);
        },
      ),
    );
  });

  it('is monotonic: a higher sparsity keeps a subset of the heads', () => {
    fc.assert(
      fc.property(
        gatesArbitrary,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (gates, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const kept = sparsify(gates, { sparsity: low }).mask.flat();
          const fewer = sparsify(gates, { sparsity: high }).mask.flat();
          fewer.forEach((flag, i) => {
            if (flag === 1) expect(kept[i]).toBe(1);
          });
        },
      ),
    );
  });

  it('breaks ties deterministically per seed, and differently across seeds', () => {
    const gates = Array.from({ length: 8 }, () => Array.from({ length: 8 }, () => 1));
    const a = sparsify(gates, { sparsity: 0.5, seed: 1 });
    expect(sparsify(gates, { sparsity: 0.5, seed: 1 }).mask).toEqual(a.mask);
    expect(count(a.mask)).toBe(retrievalCount(64, 0.5));
    expect(sparsify(gates, { sparsity: 0.5, seed: 2 }).mask).not.toEqual(a.mask);
    expect(sparsify(gates, { sparsity: 0.5 }).mask).toEqual(
      sparsify(gates, { sparsity: 0.5, seed: 42 }).mask,
    );
  });

  it('never mutates its input', () => {
    fc.assert(
      fc.property(gatesArbitrary, fc.double({ min: 0, max: 1, noNaN: true }), (gates, s) => {
        const copy = structuredClone(gates);
        sparsify(Object.freeze(gates.map((row) => Object.freeze(row))), { sparsity: s });
        sparsify(gates, { threshold: s });
        expect(gates).toEqual(copy);
      }),
    );
  });

  it('keeps all at sparsity <= 0 and none at >= 1', () => {
    const gates = [[0, 0.5, 1]];
    expect(sparsify(gates, { sparsity: 0 }).mask).toEqual([[1, 1, 1]]);
    expect(sparsify(gates, { sparsity: -3 }).mask).toEqual([[1, 1, 1]]);
    expect(sparsify(gates, { sparsity: 1 }).mask).toEqual([[0, 0, 0]]);
    expect(sparsify(gates, { sparsity: 1 }).sparsity).toBe(1);
  });

  it('rejects bad options', () => {
    expect(() => sparsify([[1]], { sparsity: Number.NaN })).toThrow(PatternOptionError);
    expect(() => sparsify([[1]], { sparsity: 0.5, seed: -1 })).toThrow(/seed/);
    expect(() => sparsify([[1]], { threshold: Number.POSITIVE_INFINITY })).toThrow(/threshold/);
    expect(() => sparsify([], { sparsity: 0.5 })).toThrow(/empty/);
    expect(() => sparsify([[1]], { sparsity: 0.5, threshold: 0.5 } as never)).toThrow(/not both/);
  });
});

describe('sparsify by threshold', () => {
  it('keeps clipped gates >= threshold', () => {
    const result = sparsify(
      [
        [-0.1, 0.5, 0.49],
        [1.2, 0.7, 0],
      ],
      { threshold: 0.5 },
    );
    expect(result.mask).toEqual([
      [0, 1, 0],
      [1, 1, 0],
    ]);
    expect(result.retrievalHeads).toBe(3);
    expect(result.sparsity).toBe(0.5);
    expect(result.threshold).toBe(0.5);
    expect(sparsify([[-0.1]], { threshold: 0 }).mask).toEqual([[1]]);
  });
});

describe('linearQuantile', () => {
  it('follows numpy linear interpolation', () => {
    expect(linearQuantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(linearQuantile([1, 2, 3, 4], 0)).toBe(1);
    expect(linearQuantile([1, 2, 3, 4], 1)).toBe(4);
    expect(linearQuantile([0, 10], 0.25)).toBe(2.5);
    expect(linearQuantile([0, 10], 0.75)).toBe(7.5);
  });
});
