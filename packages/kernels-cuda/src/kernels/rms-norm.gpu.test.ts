// GPU only (vitest.gpu.config.ts): the RMSNorm kernels against an fp32 CPU reference written here.

import {
  bfloat16BitsToFloat32,
  bfloat16ToFloat32Array,
  float32ToBfloat16Array,
  float32ToBfloat16Bits,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';

const bf16ArrayToFloat32 = (bits: Uint16Array) => {
  const out = new Float32Array(bits.length);
  bfloat16ToFloat32Array(bits, out);
  return out;
};

import { rmsNorm, rmsNormF32 } from './rms-norm.js';

/** Deterministic uniform numbers in [-1, 1) (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** HF LlamaRMSNorm in bf16: fp32 statistics, normalised value rounded to bf16, times weight, rounded. */
function referenceBf16(input: Uint16Array, weight: Uint16Array, rows: number, cols: number, eps: number) {
  const x = bf16ArrayToFloat32(input);
  const w = bf16ArrayToFloat32(weight);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[r * cols + c]! ** 2;
    const invRms = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(sum) / cols) + eps));
    for (let c = 0; c < cols; c++) {
      const normed = bfloat16BitsToFloat32(float32ToBfloat16Bits(Math.fround(x[r * cols + c]! * invRms)));
      out[r * cols + c] = bfloat16BitsToFloat32(float32ToBfloat16Bits(Math.fround(w[c]! * normed)));
    }
  }
  return out;
}

function referenceF32(x: Float32Array, w: Float32Array, rows: number, cols: number, eps: number) {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[r * cols + c]! ** 2;
    const invRms = 1 / Math.sqrt(sum / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = w[c]! * (x[r * cols + c]! * invRms);
  }
  return out;
}

// Row lengths with and without the 8-element (16-byte) vector path, below, at and above 1024 threads.
const shapes: Array<[number, number]> = [
  [1, 64],
  [3, 100],
  [7, 4096],
  [5, 1000],
  [16, 2050],
  [2, 8191],
  [64, 5120],
  [64, 8192],
];

describe('rmsNorm (bf16) on the GPU', () => {
  it.each(shapes)('matches the fp32 reference within bf16 rounding for [%i, %i]', async (rows, cols) => {
    const next = random(rows * 10007 + cols);
    const scale = 3;
    const input = float32ToBfloat16Array(Float32Array.from({ length: rows * cols }, () => next() * scale));
    const weight = float32ToBfloat16Array(Float32Array.from({ length: cols }, () => 0.5 + next()));
    const eps = 1e-5;
    const got = bf16ArrayToFloat32(await rmsNorm(input, weight, { rows, cols, eps }));
    const want = referenceBf16(input, weight, rows, cols, eps);
    let exact = 0;
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const error = Math.abs(got[i]! - want[i]!);
      if (error === 0) exact++;
      worst = Math.max(worst, error / Math.max(Math.abs(want[i]!), 1e-3));
    }
    expect(worst).toBeLessThanOrEqual(1e-2);
    expect(exact / want.length).toBeGreaterThan(0.95);
  });
});

describe('rmsNormF32 on the GPU', () => {
  it.each(shapes)('matches the reference for [%i, %i]', async (rows, cols) => {
    const next = random(rows * 31 + cols);
    const x = Float32Array.from({ length: rows * cols }, () => next() * 4);
    const w = Float32Array.from({ length: cols }, () => 0.5 + next());
    const got = await rmsNormF32(x, w, { rows, cols, eps: 1e-6 });
    const want = referenceF32(x, w, rows, cols, 1e-6);
    for (let i = 0; i < want.length; i++) {
      if (Math.abs(got[i]! - want[i]!) > 1e-5 * Math.max(1, Math.abs(want[i]!))) {
        throw new Error(`element ${i}: got ${got[i]}, want ${want[i]}`);
      }
    }
  });
});
