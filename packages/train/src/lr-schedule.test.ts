import { describe, expect, it } from 'vitest';
import { learningRateMultiplier } from './lr-schedule.js';

describe('learningRateMultiplier (the original LambdaLR)', () => {
  it('is the spec trapezoid for 2000 steps', () => {
    const f = (k: number) => learningRateMultiplier(k, 2000);
    expect(f(0)).toBe(0.1);
    expect(f(39)).toBe(0.1);
    expect(f(40)).toBe(41 / 400);
    expect(f(398)).toBe(399 / 400);
    expect(f(399)).toBe(1);
    expect(f(1000)).toBe(1);
    expect(f(1600)).toBe(1);
    expect(f(1601)).toBe(399 / 400);
    expect(f(1959)).toBe(41 / 400);
    expect(f(1960)).toBe(0.1);
    expect(f(1999)).toBe(0.1);
  });

  it('refuses step counts it cannot split into fifths, and negative steps', () => {
    expect(() => learningRateMultiplier(0, 4)).toThrow(/numSteps must be an integer >= 5/);
    expect(() => learningRateMultiplier(-1, 100)).toThrow(/step must be/);
    expect(() => learningRateMultiplier(0, 10.5)).toThrow(/numSteps/);
  });
});
