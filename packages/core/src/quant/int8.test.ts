import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random.js';
import { quantizeInt8PerToken } from './int8-activations.js';
import { checkInt8Linear, dequantizeInt8Linear, quantizeInt8Linear } from './int8-weights.js';
import { QuantFormatError } from './quant-errors.js';
import { roundHalfAwayFromZero, roundHalfToEven, roundToFloat16 } from './rounding.js';
import { linearW8A8 } from './w8a8-linear.js';

describe('rounding rules', () => {
  it('rounds halves away from zero or to even, and to binary16', () => {
    expect([2.5, -2.5, 0.5, -0.5, 1.4999].map(roundHalfAwayFromZero)).toEqual([3, -3, 1, -1, 1]);
    expect([2.5, 3.5, -2.5, -0.5, 0.5, 1.6, -1.6].map(roundHalfToEven)).toEqual([2, 4, -2, 0, 0, 2, -2]);
    expect(Object.is(roundHalfToEven(-0.5), 0)).toBe(true);
    expect(roundToFloat16(0.1)).toBe(0.0999755859375);
    expect(roundToFloat16(70000)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('int8 per-token activations', () => {
  it('scales each row by max|x| / 127 and rounds halves to even', () => {
    const x = new Float32Array([127, 2.5, -2.5, 3.5, 0.5, -127, /* row 2 */ 254, 1, 0, 0, 0, 0]);
    const q = quantizeInt8PerToken(x, 2, 6);
    expect([...q.scales]).toEqual([1, 2]);
    expect([...q.codes]).toEqual([127, 2, -2, 4, 0, -127, 127, 0, 0, 0, 0, 0]);
  });

  it('gives an all-zero row scale 0 and codes 0', () => {
    const q = quantizeInt8PerToken(new Float32Array(3), 1, 3);
    expect([...q.scales, ...q.codes]).toEqual([0, 0, 0, 0]);
  });

  it('refuses non-finite values naming row and column', () => {
    expect(() => quantizeInt8PerToken(new Float32Array([0, 1, 2, Number.POSITIVE_INFINITY]), 2, 2)).toThrow(
      /row 1 .*column 1/,
    );
    expect(() => quantizeInt8PerToken(new Float32Array(3), 2, 2)).toThrow(QuantFormatError);
  });
});

describe('int8 per-output-channel weights', () => {
  it('stores one fp16 scale per row and quantizes against it', () => {
    const w = new Float32Array([127, 63.5, -0.5, /* row 2 */ 1, -1, 0.25]);
    const q = quantizeInt8Linear(w, 2, 3);
    expect(q.scale[0]).toBe(1);
    // f32(1 / 127) = 0.007874016 rounds to fp16 0.00787353515625 (1032 · 2^-17).
    expect(q.scale[1]).toBe(1032 * 2 ** -17);
    expect([...q.weight]).toEqual([127, 64, 0, 127, -127, 32]);
    expect([...dequantizeInt8Linear(q)]).toEqual([
      127,
      64,
      0,
      127 * q.scale[1]!,
      -127 * q.scale[1]!,
      32 * q.scale[1]!,
    ]);
  });

  it('round-trips random weights within half a step per row', () => {
    const random = mulberry32(3);
    const w = new Float32Array(16 * 40).map(() => Math.fround(random() * 2 - 1));
    const q = quantizeInt8Linear(w, 16, 40);
    const back = dequantizeInt8Linear(q);
    for (let o = 0; o < 16; o++) {
      for (let i = 0; i < 40; i++) {
        expect(Math.abs(back[o * 40 + i]! - w[o * 40 + i]!)).toBeLessThanOrEqual(q.scale[o]! / 2 + 1e-7);
      }
    }
  });

  it('checks shapes, −128 codes and scales', () => {
    const q = quantizeInt8Linear(new Float32Array([1, 2, 3, 4]), 2, 2);
    expect(() => checkInt8Linear(q, 2, 2, 'x')).not.toThrow();
    expect(() => checkInt8Linear(q, 4, 1, 'layers.0.qProj')).toThrow(
      /layers\.0\.qProj is \[2, 2\], expected \[4, 1\]/,
    );
    expect(() => checkInt8Linear({ ...q, weight: new Int8Array([-128, 0, 0, 0]) }, 2, 2, 'x')).toThrow(
      /−128/,
    );
    expect(() => checkInt8Linear({ ...q, scale: new Float32Array([1, Number.NaN]) }, 2, 2, 'x')).toThrow(
      /output channel 1/,
    );
  });
});

describe('W8A8 linear', () => {
  it('accumulates integer codes exactly, then scales by weight and token scales', () => {
    const weight = quantizeInt8Linear(new Float32Array([127, -1, 3, 127]), 2, 2);
    // Row scale f32(254 / 127) = 2; codes 127 and roundHalfToEven(0.5) = 0: the 1 is lost.
    const y = linearW8A8(new Float32Array([254, 1]), 1, weight, new Float32Array([0.5, -1]));
    expect([...y]).toEqual([127 * 127 * 2 + 0.5, 127 * 3 * 2 - 1]);
  });

  it('stays within a few quantization steps of the float product on random data', () => {
    const random = mulberry32(11);
    const rows = 5;
    const inF = 64;
    const outF = 12;
    const x = new Float32Array(rows * inF).map(() => Math.fround(random() * 4 - 2));
    const w = new Float32Array(outF * inF).map(() => Math.fround(random() - 0.5));
    const y = linearW8A8(x, rows, quantizeInt8Linear(w, outF, inF));
    for (let t = 0; t < rows; t++) {
      for (let o = 0; o < outF; o++) {
        let exact = 0;
        let magnitude = 0;
        for (let i = 0; i < inF; i++) {
          exact += x[t * inF + i]! * w[o * inF + i]!;
          magnitude += Math.abs(x[t * inF + i]! * w[o * inF + i]!);
        }
        // Each factor is off by at most half a step (1/254 of its row's max): ~1% of Σ|x·w|.
        expect(Math.abs(y[t * outF + o]! - exact)).toBeLessThanOrEqual(0.02 * magnitude);
      }
    }
  });
});
