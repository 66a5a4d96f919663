import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatScientific } from './format-scientific.js';

describe('formatScientific (%.18e)', () => {
  it('formats like numpy.savetxt', () => {
    expect(formatScientific(0.859375)).toBe('8.593750000000000000e-01');
    expect(formatScientific(1)).toBe('1.000000000000000000e+00');
    expect(formatScientific(-9.250640869140625e-5)).toBe('-9.250640869140625000e-05');
    expect(formatScientific(0)).toBe('0.000000000000000000e+00');
    expect(formatScientific(-0)).toBe('-0.000000000000000000e+00');
    expect(formatScientific(0.1)).toBe('1.000000000000000056e-01');
    expect(formatScientific(1e300)).toBe('1.000000000000000053e+300');
    expect(formatScientific(5e-324)).toBe('4.940656458412465442e-324');
    expect(formatScientific(123456, 2)).toBe('1.23e+05');
    expect(formatScientific(Number.NaN)).toBe('nan');
  });

  it('rounds exact ties half to even like printf', () => {
    // 0.125 and 0.375 are exact in binary: "%.1e" sees a true tie.
    expect(formatScientific(1.25, 1)).toBe('1.2e+00');
    expect(formatScientific(1.35, 1)).toBe('1.4e+00'); // 1.35 is slightly above the tie in binary
    expect(formatScientific(9.5, 0)).toBe('1e+01');
    expect(formatScientific(8.5, 0)).toBe('8e+00');
    expect(formatScientific(9.96, 1)).toBe('1.0e+01');
  });

  it('parses back to the same double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        expect(Number(formatScientific(value))).toBe(value);
      }),
    );
  });
});
