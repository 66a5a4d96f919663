import { describe, expect, it } from 'vitest';
import { generatePattern, roundToBfloat16 } from './generate-pattern.js';

describe('generatePattern', () => {
  it('is deterministic per seed and shaped like trained gates', () => {
    const a = generatePattern({ numLayers: 16, numKvHeads: 8, seed: 3 });
    expect(generatePattern({ numLayers: 16, numKvHeads: 8, seed: 3 }).alpha).toEqual(a.alpha);
    expect(generatePattern({ numLayers: 16, numKvHeads: 8, seed: 4 }).alpha).not.toEqual(a.alpha);
    const values = a.alpha.flat();
    expect(values.every((v) => v >= 0 && v <= 1 && roundToBfloat16(v) === v)).toBe(true);
    const ones = values.filter((v) => v === 1).length;
    expect(ones).toBeGreaterThan(20);
    expect(ones).toBeLessThan(70);
    expect(a.config.generator).toBe('duo-attn synthetic seed=3');
  });

  it('fills a constant and validates', () => {
    expect(generatePattern({ numLayers: 2, numKvHeads: 2, fill: 1 }).alpha).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(() => generatePattern({ numLayers: 0, numKvHeads: 2 })).toThrow(/numLayers/);
    expect(() => generatePattern({ numLayers: 1, numKvHeads: 2, fill: 2 })).toThrow(/fill/);
  });

  it('rounds to bfloat16 with ties to even', () => {
    expect(roundToBfloat16(1)).toBe(1);
    expect(roundToBfloat16(0.859375)).toBe(0.859375);
    expect(roundToBfloat16(1 + 2 ** -8)).toBe(1); // tie -> even
    expect(roundToBfloat16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // tie -> even (up)
  });
});
