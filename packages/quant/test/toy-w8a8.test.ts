// W8A8 on the bundled toy model (models/toy-retrieval, trained bf16 weights), reference backend:
// SmoothQuant-calibrated logits stay within a stated bound of the float model's on text the
// calibration did not see, and smoothing beats plain int8 there (the toy has activation outliers).
import { defaultModelDirectory, loadModel, loadTokenizer, quantizeLinears } from '@duo-attn/core';
import { generateHaystack } from '@duo-attn/eval';
import { describe, expect, it } from 'vitest';
import { quantizeModelW8A8 } from '../src/quantize-model.js';
import { allLogits } from './reference-logits.js';

/** Max |W8A8 − float| / max |float| allowed over 256 positions (measured 0.083 over 512, see docs/benchmarks.md). */
const TOY_W8A8_RELATIVE_TOLERANCE = 0.12;

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return error / scale;
}

describe('W8A8 on the bundled toy model', () => {
  it(`keeps logits within ${TOY_W8A8_RELATIVE_TOLERANCE} of the float model, smoothing helping`, async () => {
    const dir = defaultModelDirectory();
    const float = await loadModel(dir);
    const ids = (await loadTokenizer(dir)).encode(generateHaystack(40_000), { addSpecialTokens: false });
    const calibration = [ids.slice(0, 256), ids.slice(256, 512)];
    const evaluation = ids.slice(6000, 6256);
    const quantized = await quantizeModelW8A8(float, { calibration });
    const reference = await allLogits(float, evaluation);
    const smoothed = relativeError(await allLogits(quantized, evaluation), reference);
    const plain = relativeError(await allLogits(quantizeLinears(float), evaluation), reference);
    expect(smoothed).toBeGreaterThan(0);
    expect(smoothed).toBeLessThanOrEqual(TOY_W8A8_RELATIVE_TOLERANCE);
    expect(smoothed).toBeLessThan(plain);
  });
});
