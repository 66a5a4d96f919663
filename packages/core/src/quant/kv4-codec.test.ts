import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../model/float-conversion.js';
import { mulberry32 } from '../random.js';
import {
  allocateKv4Groups,
  dequantizeKv4,
  dequantizeKv4Group,
  KV4_SCALE_EPSILON,
  kv4GroupBytes,
  quantizeKv4,
  quantizeKv4Into,
} from './kv4-codec.js';
import { QuantFormatError } from './quant-errors.js';

/** Unpacks codes: element 2i from the high nibble, 2i+1 from the low one. */
function unpack(codes: Uint8Array): number[] {
  return [...codes].flatMap((byte) => [byte >>> 4, byte & 0x0f]);
}

describe('KV4 codec', () => {
  it('reproduces the worked example of the reference spec §5.2 bit for bit', () => {
    const x = new Float32Array([-1, -0.5, 0, 0.25, 0.5, 0.75, 1, 2]);
    const q = quantizeKv4(x, 8);
    expect(unpack(q.codes)).toEqual([0, 2, 5, 6, 7, 9, 10, 15]);
    expect([...q.codes]).toEqual([0x02, 0x56, 0x79, 0xaf]);
    // scale32 = f32(f32(3 / 15) + f32(1e-8)) = 0.20000002; stored as fp16 0.199951171875 (0x3266).
    expect(q.scales[0]).toBe(0x3266);
    expect(float16BitsToFloat32(q.scales[0]!)).toBe(0.199951171875);
    expect(q.zeros[0]).toBe(0xbc00); // −1
    // fp16(fp16(code · scale) + zero), worked by hand (ties of code · scale round to even).
    expect([...dequantizeKv4(q)]).toEqual([
      -1, -0.60009765625, 0, 0.19921875, 0.3994140625, 0.7998046875, 1, 2,
    ]);
  });

  it('rounds exact halves away from zero (codes from the float32 scale, 1 here)', () => {
    // max − min = 15, so scale32 = f32(1 + 1e-8) = 1 and (x − min) / scale is x itself.
    const q = quantizeKv4(new Float32Array([0, 15, 0.5, 1.5, 2.5, 3.5, 14.5, 7.25]), 8);
    expect(unpack(q.codes)).toEqual([0, 15, 1, 2, 3, 4, 15, 7]);
  });

  it('computes codes from the float32 scale and min, not their fp16 roundings', () => {
    // min = 1/3 is not a binary16 value: codes still count from the float32 min.
    const min = Math.fround(1 / 3);
    const x = new Float32Array([min, Math.fround(min + 15)]);
    const q = quantizeKv4(x, 2);
    expect(unpack(q.codes)).toEqual([0, 15]);
    expect(float16BitsToFloat32(q.zeros[0]!)).not.toBe(min);
    expect(q.zeros[0]).toBe(float32ToFloat16Bits(min));
  });

  it('gives a constant group code 0, a zero scale (1e-8 underflows fp16) and the value as zero', () => {
    const q = quantizeKv4(new Float32Array(4).fill(3.25), 4);
    expect(unpack(q.codes)).toEqual([0, 0, 0, 0]);
    expect(KV4_SCALE_EPSILON).toBe(Math.fround(1e-8));
    expect(q.scales[0]).toBe(0);
    expect([...dequantizeKv4(q)]).toEqual([3.25, 3.25, 3.25, 3.25]);
  });

  it('round-trips random groups within half a step plus fp16 rounding', () => {
    const random = mulberry32(7);
    const headDim = 128;
    const groups = 64;
    const x = new Float32Array(groups * headDim);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround((random() * 2 - 1) * (1 + (i % 5)));
    const q = quantizeKv4(x, headDim);
    const y = dequantizeKv4(q);
    for (let g = 0; g < groups; g++) {
      const group = x.subarray(g * headDim, (g + 1) * headDim);
      const min = Math.min(...group);
      const max = Math.max(...group);
      const scale32 = Math.fround(Math.fround(Math.fround(max - min) / 15) + KV4_SCALE_EPSILON);
      const scale16 = float16BitsToFloat32(q.scales[g]!);
      const zero16 = float16BitsToFloat32(q.zeros[g]!);
      // Half a step, the fp16 errors of 15 scales and the zero, and two final fp16 roundings.
      const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(min), Math.abs(max)))) - 10);
      const bound = scale32 / 2 + 15 * Math.abs(scale16 - scale32) + Math.abs(zero16 - min) + 2 * ulp;
      for (let i = 0; i < headDim; i++) {
        expect(Math.abs(y[g * headDim + i]! - group[i]!)).toBeLessThanOrEqual(bound);
      }
      // Extremes: the min comes back as fp16(min), the max within one step.
      expect(Math.abs(Math.max(...y.subarray(g * headDim, (g + 1) * headDim)) - max)).toBeLessThanOrEqual(
        bound,
      );
    }
  });

  it('writes groups in place at a group offset and reads one group back', () => {
    const storage = allocateKv4Groups(3, 4);
    quantizeKv4Into(new Float32Array([9, 9, 9, 9, 0, 15, 7.5, 3]), 4, 1, storage, 2);
    expect([...storage.codes]).toEqual([0, 0, 0, 0, 0x0f, 0x83]);
    const out = new Float32Array(6);
    dequantizeKv4Group(storage, 2, out, 1);
    expect([...out]).toEqual([0, 0, 15, 8, 3, 0]);
  });

  it('counts headDim/2 code bytes plus fp16 scale and zero per group', () => {
    expect(kv4GroupBytes(128)).toBe(68);
  });

  it('refuses non-finite values, odd group sizes and ranges that do not fit, naming the group', () => {
    expect(() => quantizeKv4(new Float32Array([0, 1, Number.NaN, 2]), 2)).toThrow(
      /group 1 .*NaN.* element 0/,
    );
    expect(() => quantizeKv4(new Float32Array(6), 3)).toThrow(QuantFormatError);
    expect(() => quantizeKv4(new Float32Array(6), 4)).toThrow(/not a whole number/);
    expect(() => quantizeKv4Into(new Float32Array(4), 0, 1, allocateKv4Groups(1, 4), 1)).toThrow(
      /holds 1 groups/,
    );
  });
});
