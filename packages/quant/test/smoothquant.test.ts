import { createRandomModel, createReferenceBackend, fullPolicy, type ModelSource } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { collectActivationScales } from '../src/calibrate.js';
import { QuantOptionsError } from '../src/quant-errors.js';
import { applySmoothing, smoothingFactors, smoothingForModel } from '../src/smoothquant.js';

async function logits(model: ModelSource, tokens: number[]): Promise<Float32Array> {
  const executor = await createReferenceBackend().load(model, fullPolicy(model.config), {
    maxTokens: tokens.length,
  });
  try {
    return (await executor.forward(0, tokens, { allLogits: true })).logits;
  } finally {
    await executor.dispose();
  }
}

describe('smoothingFactors', () => {
  it('is max|X|^α / max|W|^(1−α) per input channel, over all linears, floored at 1e-5', () => {
    const weights = [new Float32Array([1, 4, 2, -2, 1, 0.5]), new Float32Array([0.5, -1, 1e-7])];
    const s = smoothingFactors(new Float32Array([4, 1, 0]), weights, 3, 0.5);
    // max|W| per column = [2, 4, 2]; channel 2 has no activation: 0 floors to 1e-5.
    expect(s[0]).toBeCloseTo(2 / Math.SQRT2, 6);
    expect(s[1]).toBe(0.5);
    expect(s[2]).toBe(Math.fround(1e-5));
    // α = 1: all difficulty to the weights (s = max|X|); α = 0: s = 1 / max|W|.
    expect([...smoothingFactors(new Float32Array([4, 1, 3]), weights, 3, 1)]).toEqual([4, 1, 3]);
    expect([...smoothingFactors(new Float32Array([4, 1, 3]), weights, 3, 0)]).toEqual([0.5, 0.25, 0.5]);
  });

  it('refuses α outside [0, 1] and mismatched channel counts', () => {
    expect(() => smoothingFactors(new Float32Array(2), [], 2, 1.5)).toThrow(QuantOptionsError);
    expect(() => smoothingFactors(new Float32Array(3), [], 2, 0.5)).toThrow(/3 channels, expected 2/);
  });
});

describe('calibration and smoothing on a random model', () => {
  const model = createRandomModel({ seed: 5, numLayers: 2, hiddenSize: 32, vocabSize: 64 });
  const sequences = [
    [1, 2, 3, 4, 5, 6, 7, 8],
    [9, 10, 11, 12, 40, 41],
  ];

  it('records layer 0 q|k|v input maxima equal to max |rmsNorm(embedding)| per channel', async () => {
    const scales = await collectActivationScales(model, sequences);
    const { hiddenSize: h, rmsNormEps } = model.config;
    const expected = new Float32Array(h);
    for (const token of sequences.flat()) {
      const row = model.weights.embedTokens.subarray(token * h, (token + 1) * h);
      let squares = 0;
      for (const value of row) squares += value * value;
      const inverse = 1 / Math.sqrt(squares / h + rmsNormEps);
      row.forEach((value, i) => {
        const x = Math.abs(value * inverse * model.weights.layers[0]!.inputNorm[i]!);
        if (x > expected[i]!) expected[i] = x;
      });
    }
    for (let i = 0; i < h; i++) expect(scales[0]!.qkv[i]).toBeCloseTo(expected[i]!, 5);
    expect(scales).toHaveLength(2);
    expect(Math.min(...scales[1]!.gateUp)).toBeGreaterThan(0);
  });

  it('keeps the float model the same function after folding the smoothing', async () => {
    const scales = await collectActivationScales(model, sequences);
    const smoothing = smoothingForModel(model.config, model.weights, scales);
    const smoothed = {
      config: model.config,
      weights: applySmoothing(model.config, model.weights, smoothing),
    };
    expect(smoothed.weights.layers[0]!.inputNorm).not.toEqual(model.weights.layers[0]!.inputNorm);
    const before = await logits(model, sequences[0]!);
    const after = await logits(smoothed, sequences[0]!);
    let worst = 0;
    for (let i = 0; i < before.length; i++) worst = Math.max(worst, Math.abs(before[i]! - after[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  it('refuses no or empty calibration sequences', async () => {
    await expect(collectActivationScales(model, [])).rejects.toThrow(/at least one sequence/);
    await expect(collectActivationScales(model, [[1], []])).rejects.toThrow(/sequence 1 is empty/);
  });
});
