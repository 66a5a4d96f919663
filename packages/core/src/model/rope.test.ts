import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import { parseModelConfig } from './model-config.js';
import type { RopeConfig } from './model-types.js';
import {
  applyRopeInPlace,
  dynamicRopeLength,
  ropeCosSin,
  ropeFrequencies,
  rotateHalfInPlace,
} from './rope.js';

/** float32 precision: HF's values are float32, ours replay them. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], relative = 2e-7): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = Math.abs(expected[i]!) * relative + 1e-30;
    if (Math.abs(actual[i]! - expected[i]!) > tolerance) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (±${tolerance})`);
    }
  }
}

describe('ropeFrequencies', () => {
  it('default: 1 / theta^(2j/d), as float32 values', () => {
    const { inverseFrequencies, attentionScaling } = ropeFrequencies({ type: 'default', theta: 10000 }, 8);
    expectClose(inverseFrequencies, [1, 0.1, 0.01, 0.001]);
    expect(attentionScaling).toBe(1);
    for (const value of inverseFrequencies) expect(Math.fround(value)).toBe(value);
  });

  it('linear: default divided by factor', () => {
    const { inverseFrequencies } = ropeFrequencies({ type: 'linear', theta: 10000, factor: 4 }, 8);
    expectClose(inverseFrequencies, [0.25, 0.025, 0.0025, 0.00025]);
  });

  it('dynamic: unchanged up to max_position_embeddings, NTK-scaled base beyond', () => {
    const rope: RopeConfig = {
      type: 'dynamic',
      theta: 10000,
      factor: 2,
      originalMaxPositionEmbeddings: 4096,
    };
    const plain = ropeFrequencies({ type: 'default', theta: 10000 }, 4).inverseFrequencies;
    expect([...ropeFrequencies(rope, 4).inverseFrequencies]).toEqual([...plain]);
    expect([...ropeFrequencies(rope, 4, 4096).inverseFrequencies]).toEqual([...plain]);
    expect([...ropeFrequencies(rope, 4, 100).inverseFrequencies]).toEqual([...plain]);
    // seqLen = 2L: base' = 10000 * (2*2 - 1)^(4/2) = 90000, so pair 1 is 1/sqrt(90000) = 1/300.
    expectClose(ropeFrequencies(rope, 4, 8192).inverseFrequencies, [1, 1 / 300]);
    // seqLen = 3L: base' = 10000 * (2*3 - 1)^2 = 250000 -> 1/500.
    expectClose(ropeFrequencies(rope, 4, 12288).inverseFrequencies, [1, 1 / 500]);
  });

  it('llama3: low frequencies divided by factor, high ones kept, smooth in between', () => {
    // With L = 8192, low/high freq factors 1 and 4, wavelengths above 8192 are scaled, below 2048
    // kept, and a wavelength of 4096 sits in the middle with smooth = (8192/4096 - 1) / 3 = 1/3.
    const middle = (2 * Math.PI) / 4096;
    const theta = (1 / middle) ** 2; // pair 1 of d = 4 is theta^(-1/2) = middle
    const rope: RopeConfig = {
      type: 'llama3',
      theta,
      factor: 8,
      originalMaxPositionEmbeddings: 8192,
      lowFreqFactor: 1,
      highFreqFactor: 4,
    };
    const smooth = 1 / 3;
    expectClose(
      ropeFrequencies(rope, 4).inverseFrequencies,
      [1, ((1 - smooth) * middle) / 8 + smooth * middle],
      1e-6,
    );

    // Llama-3.1-8B's real settings: check each band against its definition.
    const llama31: RopeConfig = { ...rope, theta: 500000 };
    const base = ropeFrequencies({ type: 'default', theta: 500000 }, 128).inverseFrequencies;
    const scaled = ropeFrequencies(llama31, 128).inverseFrequencies;
    let low = 0;
    let high = 0;
    let medium = 0;
    for (let j = 0; j < 64; j++) {
      const wavelength = (2 * Math.PI) / base[j]!;
      if (wavelength < 2048) {
        high++;
        expect(scaled[j]).toBe(base[j]);
      } else if (wavelength > 8192) {
        low++;
        expectClose([scaled[j]!], [base[j]! / 8], 1e-6);
      } else {
        medium++;
        const k = (8192 / wavelength - 1) / 3;
        expectClose([scaled[j]!], [((1 - k) * base[j]!) / 8 + k * base[j]!], 1e-6);
        expect(scaled[j]!).toBeLessThan(base[j]!);
        expect(scaled[j]!).toBeGreaterThan(base[j]! / 8);
      }
    }
    expect(high + medium + low).toBe(64);
    expect(high).toBeGreaterThan(0);
    expect(medium).toBeGreaterThan(0);
    expect(low).toBeGreaterThan(0);
    // Monotone: scaling never reorders frequencies.
    for (let j = 1; j < 64; j++) expect(scaled[j]!).toBeLessThan(scaled[j - 1]!);
  });

  it('yarn: ramp between extrapolation and interpolation, mscale attention factor', () => {
    // d = 8, theta = 1e4, L = 4096, factor 4, beta 32/1: the correction range is
    // dim(32) = 8 ln(4096 / 64π) / (2 ln 1e4) = 1.309 -> floor 1 and dim(1) = 2.814 -> ceil 3, so
    // ramp = clamp((j - 1) / 2) = [0, 0, 0.5, 1] and the extrapolation weight is 1 - ramp.
    const rope: RopeConfig = { type: 'yarn', theta: 10000, factor: 4, originalMaxPositionEmbeddings: 4096 };
    const { inverseFrequencies, attentionScaling } = ropeFrequencies(rope, 8);
    expectClose(inverseFrequencies, [1, 0.1, 0.5 * 0.01 + (0.5 * 0.01) / 4, 0.001 / 4]);
    expect(attentionScaling).toBeCloseTo(0.1 * Math.log(4) + 1, 12);

    // Without truncation the range is [1.309, 2.814]: j = 2 has ramp (2 - 1.309) / 1.505.
    const lowDim = (8 * Math.log(4096 / (32 * 2 * Math.PI))) / (2 * Math.log(10000));
    const highDim = (8 * Math.log(4096 / (2 * Math.PI))) / (2 * Math.log(10000));
    const ramp = (2 - lowDim) / (highDim - lowDim);
    const untruncated = ropeFrequencies({ ...rope, truncate: false }, 8).inverseFrequencies;
    expectClose(untruncated, [1, 0.1, ramp * (0.01 / 4) + (1 - ramp) * 0.01, 0.001 / 4], 1e-6);

    expect(ropeFrequencies({ ...rope, attentionFactor: 2 }, 8).attentionScaling).toBe(2);
    // DeepSeek style: mscale/mscale_all_dim ratio.
    const ratio = (0.1 * 1 * Math.log(4) + 1) / (0.1 * 0.5 * Math.log(4) + 1);
    expect(ropeFrequencies({ ...rope, mscale: 1, mscaleAllDim: 0.5 }, 8).attentionScaling).toBeCloseTo(
      ratio,
      12,
    );
    // A zero mscale_all_dim falls back to the plain formula, as transformers' truthiness test does.
    expect(ropeFrequencies({ ...rope, mscale: 1, mscaleAllDim: 0 }, 8).attentionScaling).toBeCloseTo(
      1.1386294361,
      9,
    );
    // factor <= 1 gives no scaling.
    expect(ropeFrequencies({ ...rope, factor: 1 }, 8).attentionScaling).toBe(1);
  });

  it('rejects bad arguments with typed errors', () => {
    const catchError = (fn: () => unknown): DuoError => {
      try {
        fn();
      } catch (error) {
        if (DuoError.isInstance(error)) return error;
        throw error;
      }
      throw new Error('expected an error');
    };
    expect(catchError(() => ropeFrequencies({ type: 'default', theta: 1e4 }, 7)).code).toBe('E_ROPE');
    expect(catchError(() => ropeFrequencies({ type: 'linear', theta: 1e4 }, 8)).message).toMatch(/factor/);
    expect(catchError(() => ropeFrequencies({ type: 'yarn', theta: 1e4, factor: 2 }, 8)).message).toMatch(
      /originalMaxPositionEmbeddings/,
    );
    expect(catchError(() => ropeFrequencies({ type: 'default', theta: 1e4 }, 8, 0)).code).toBe('E_ROPE');
  });
});

describe('dynamicRopeLength', () => {
  it('grows with the sequence and resets below max_position_embeddings, as transformers does', () => {
    const max = 4096;
    let cached = max;
    cached = dynamicRopeLength(cached, 100, max);
    expect(cached).toBe(4096);
    cached = dynamicRopeLength(cached, 5000, max);
    expect(cached).toBe(5000);
    cached = dynamicRopeLength(cached, 4500, max); // shorter but above max: keeps the grown length
    expect(cached).toBe(5000);
    cached = dynamicRopeLength(cached, 4096, max); // not below max: keeps it
    expect(cached).toBe(5000);
    cached = dynamicRopeLength(cached, 10, max); // below max: reset
    expect(cached).toBe(4096);
  });
});

describe('rotate half', () => {
  const frequencies = ropeFrequencies({ type: 'default', theta: 10000 }, 4); // [1, 0.01]

  it('rotates pairs (j, j + d/2) by position * frequency', () => {
    const vec = new Float32Array([9, 1, 2, 3, 4, 9]);
    const position = 3;
    applyRopeInPlace(vec, 1, 4, position, frequencies);
    const [a, b] = [position * 1, position * 0.01];
    expectClose(
      vec,
      [
        9,
        1 * Math.cos(a) - 3 * Math.sin(a),
        2 * Math.cos(b) - 4 * Math.sin(b),
        3 * Math.cos(a) + 1 * Math.sin(a),
        4 * Math.cos(b) + 2 * Math.sin(b),
        9,
      ],
      1e-6,
    );
  });

  it('is the identity at position 0 and scales by attentionScaling', () => {
    const vec = new Float32Array([1, 2, 3, 4]);
    applyRopeInPlace(vec, 0, 4, 0, frequencies);
    expect([...vec]).toEqual([1, 2, 3, 4]);
    applyRopeInPlace(vec, 0, 4, 0, { ...frequencies, attentionScaling: 2 });
    expect([...vec]).toEqual([2, 4, 6, 8]);
  });

  it('makes q·k depend only on the relative position', () => {
    const q = [0.3, -1.2, 0.7, 2.0, 0.1, -0.4, 1.5, 0.9];
    const k = [1.1, 0.2, -0.6, 0.4, -1.3, 0.8, 0.05, -0.7];
    const freq = ropeFrequencies({ type: 'default', theta: 10000 }, 8);
    const dotAt = (m: number, n: number): number => {
      const qr = new Float32Array(q);
      const kr = new Float32Array(k);
      applyRopeInPlace(qr, 0, 8, m, freq);
      applyRopeInPlace(kr, 0, 8, n, freq);
      return qr.reduce((sum, x, i) => sum + x * kr[i]!, 0);
    };
    expect(dotAt(17, 5)).toBeCloseTo(dotAt(112, 100), 4);
    expect(dotAt(17, 5)).not.toBeCloseTo(dotAt(17, 6), 2);
  });

  it('uses the float32 angle like transformers, and checks sizes', () => {
    const cos = new Float32Array(2);
    const sin = new Float32Array(2);
    ropeCosSin(frequencies, 100000, cos, sin);
    const angle = Math.fround(100000 * frequencies.inverseFrequencies[1]!);
    expect(cos[1]).toBe(Math.fround(Math.cos(angle)));
    expect(() => ropeCosSin(frequencies, 1, new Float32Array(1), sin)).toThrow(/cos\/sin/);
    expect(() => rotateHalfInPlace(new Float32Array(3), 0, 4, cos, sin)).toThrow(/exceeds/);
    expect(() => applyRopeInPlace(new Float32Array(8), 0, 8, 1, frequencies)).toThrow(/headDim/);
  });
});

describe('agreement with HF transformers 5.17', () => {
  interface HfCase {
    name: string;
    headDim: number;
    maxPositionEmbeddings: number;
    seqLen: number | null;
    configKeys: Record<string, unknown>;
    inverseFrequencyBits: number[];
    attentionScaling: number;
  }
  const fixture = JSON.parse(
    readFileSync(
      join(dirname(fileURLToPath(import.meta.url)), '__fixtures__', 'hf-rope-transformers-5.17.json'),
      'utf8',
    ),
  ) as { cases: HfCase[] };

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: float32 values within 2 ulp', (_name, c) => {
    const config = parseModelConfig(
      {
        architectures: ['LlamaForCausalLM'],
        vocab_size: 8,
        hidden_size: 4 * c.headDim,
        intermediate_size: 8,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        head_dim: c.headDim,
        rms_norm_eps: 1e-5,
        max_position_embeddings: c.maxPositionEmbeddings,
        ...c.configKeys,
      },
      c.name,
    );
    const { inverseFrequencies, attentionScaling } = ropeFrequencies(
      config.rope,
      c.headDim,
      c.seqLen ?? undefined,
    );
    expect(attentionScaling).toBeCloseTo(c.attentionScaling, 14);
    const ours = new Uint32Array(new Float32Array(inverseFrequencies).buffer);
    let exact = 0;
    for (let j = 0; j < c.inverseFrequencyBits.length; j++) {
      const ulps = Math.abs(ours[j]! - c.inverseFrequencyBits[j]!);
      if (ulps > 2) throw new Error(`pair ${j}: ${ulps} ulp from transformers`);
      if (ulps === 0) exact++;
    }
    // Only torch's float32 pow differs (by an ulp, now and then) from ours.
    expect(exact / c.inverseFrequencyBits.length).toBeGreaterThan(0.5);
  });
});
