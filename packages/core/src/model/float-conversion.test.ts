import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  bfloat16ToFloat32Array,
  float16BitsToFloat32,
  float16ToFloat32Array,
  float32FromBits,
  float32ToBfloat16Array,
  float32ToBfloat16Bits,
  float32ToFloat16Array,
  float32ToFloat16Bits,
} from './float-conversion.js';

const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

describe('float16', () => {
  it('converts known values, rounding to nearest even', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite
      [65519.99, 0x7bff], // below the halfway point to 65536
      [65520, 0x7c00], // halfway: ties to even, which is 2^16, i.e. infinity
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway between 0 and 2^-24: ties to even (0)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal ulps: even is 2
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: even is the latter
      [1 / 3, 0x3555],
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the normals
    ];
    for (const [value, bits] of cases) {
      expect(hex(float32ToFloat16Bits(value)), `f16(${value})`).toBe(hex(bits));
    }
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(Number.NaN)))).toBe(true);
    expect(float16BitsToFloat32(0x7c00)).toBe(Infinity);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(float16BitsToFloat32(0xc000)).toBe(-2);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
  });

  it('round-trips every binary16 value', () => {
    for (let h = 0; h < 0x10000; h++) {
      const value = float16BitsToFloat32(h);
      if (Number.isNaN(value)) continue;
      if (float32ToFloat16Bits(value) !== h) throw new Error(`round trip failed for ${hex(h)}`);
    }
  });

  it('picks the nearest binary16 value for any float32', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -65504, max: 65504 }), (x) => {
        const h = float32ToFloat16Bits(x);
        const error = Math.abs(float16BitsToFloat32(h) - x);
        for (const neighbour of [h - 1, h + 1]) {
          if ((neighbour & 0x7c00) === 0x7c00 || neighbour < 0 || neighbour > 0xffff) continue;
          if ((neighbour & 0x8000) !== (h & 0x8000)) continue;
          expect(Math.abs(float16BitsToFloat32(neighbour) - x)).toBeGreaterThanOrEqual(error);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('converts arrays both ways with an output offset', () => {
    const source = new Float32Array([1, -2, 0.5, 65504]);
    const halves = float32ToFloat16Array(source);
    expect([...halves]).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff]);
    const out = new Float32Array(6);
    float16ToFloat32Array(halves, out, 2);
    expect([...out]).toEqual([0, 0, 1, -2, 0.5, 65504]);
    expect(() => float16ToFloat32Array(halves, out, 3)).toThrow(RangeError);
  });
});

describe('bfloat16', () => {
  it('converts known values, rounding to nearest even', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [1, 0x3f80],
      [-1, 0xbf80],
      [Math.PI, 0x4049],
      [1 + 2 ** -8, 0x3f80], // halfway: even is 1
      [1 + 3 * 2 ** -8, 0x3f82], // halfway: even is 1 + 2^-6
      [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above halfway
      [float32FromBits(0x7f7fffff), 0x7f80], // float32 max rounds to infinity
      [Infinity, 0x7f80],
    ];
    for (const [value, bits] of cases) {
      expect(hex(float32ToBfloat16Bits(value)), `bf16(${value})`).toBe(hex(bits));
    }
    expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(Number.NaN)))).toBe(true);
    // A NaN whose payload lies only in the low bits must not round to infinity.
    const lowPayloadNaN = float32FromBits(0x7f800001);
    expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(lowPayloadNaN)))).toBe(true);
    const array = float32ToBfloat16Array(new Float32Array([lowPayloadNaN, 1 + 2 ** -8]));
    expect(Number.isNaN(bfloat16BitsToFloat32(array[0]!))).toBe(true);
    expect(array[1]).toBe(0x3f80);
  });

  it('round-trips every bfloat16 value, arrays matching scalars', () => {
    const all = new Uint16Array(0x10000);
    for (let h = 0; h < 0x10000; h++) all[h] = h;
    const widened = new Float32Array(0x10000);
    bfloat16ToFloat32Array(all, widened);
    const narrowed = float32ToBfloat16Array(widened);
    const widenedBits = new Uint32Array(widened.buffer);
    for (let h = 0; h < 0x10000; h++) {
      const value = widened[h]!;
      if (widenedBits[h] !== (h << 16) >>> 0) throw new Error(`widening changed the bits of ${hex(h)}`);
      if (!Number.isNaN(value) && narrowed[h] !== h) throw new Error(`round trip failed for ${hex(h)}`);
      if (!Number.isNaN(value) && float32ToBfloat16Bits(value) !== h)
        throw new Error(`scalar failed for ${hex(h)}`);
    }
  });
});
