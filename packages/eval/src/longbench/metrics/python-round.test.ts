import { describe, expect, it } from 'vitest';
import { roundHalfEven, roundToDigits } from './python-round.js';

describe("Python's round", () => {
  it('round(x) sends halves to the even integer', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([
      0, 2, 2, 4, 0, -2, 2, 3,
    ]);
  });

  it('round(x, 2) rounds exact ties to even and everything else to nearest', () => {
    // 12.125 and 0.125 are exact binary ties; 2.675 is really 2.67499999… in binary.
    expect(roundToDigits(12.125, 2)).toBe(12.12);
    expect(roundToDigits(12.375, 2)).toBe(12.38);
    expect(roundToDigits(0.125, 2)).toBe(0.12);
    expect(roundToDigits(2.675, 2)).toBe(2.67);
    expect(roundToDigits(100 / 3, 2)).toBe(33.33);
    expect(roundToDigits(200 / 3, 2)).toBe(66.67);
    expect(roundToDigits(-12.125, 2)).toBe(-12.12);
    expect(roundToDigits(50, 2)).toBe(50);
  });
});
