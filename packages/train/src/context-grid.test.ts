import { describe, expect, it } from 'vitest';
import { float32Linspace, integerLinspace } from './context-grid.js';

describe('context and depth grids', () => {
  it("reproduce torch's integer linspace (the spec's 1000..32000 in 50 points)", () => {
    const grid = integerLinspace(1000, 32000, 50);
    expect(grid.slice(0, 8)).toEqual([1000, 1632, 2265, 2897, 3530, 4163, 4795, 5428]);
    expect(grid.slice(24, 27)).toEqual([16183, 16816, 17448]);
    expect(grid.slice(-4)).toEqual([30102, 30734, 31367, 32000]);
    expect(integerLinspace(1000, 128000, 50).slice(0, 3)).toEqual([1000, 3591, 6183]);
    expect(integerLinspace(1000, 128000, 50).slice(-2)).toEqual([125408, 128000]);
    expect(integerLinspace(7, 9, 1)).toEqual([7]);
  });

  it("follow torch's float32 linspace within one float32 ulp (values read from torch 1.13)", () => {
    const depths = float32Linspace(0.05, 0.95, 1000);
    const ulp = (x: number) => 2 ** (Math.floor(Math.log2(x)) - 23);
    for (const [i, want] of [
      [0, 0.05000000074505806],
      [1, 0.0509009025990963],
      [499, 0.49954953789711],
      [500, 0.5004504323005676],
      [999, 0.949999988079071],
    ] as const) {
      expect(Math.abs(depths[i]! - want), `depth ${i}`).toBeLessThanOrEqual(ulp(want));
    }
    for (const depth of depths) expect(Math.fround(depth)).toBe(depth);
  });

  it('refuses an empty grid', () => {
    expect(() => integerLinspace(1, 2, 0)).toThrow(/at least 1 point/);
    expect(() => float32Linspace(0, 1, 0)).toThrow(/at least 1 point/);
  });
});
