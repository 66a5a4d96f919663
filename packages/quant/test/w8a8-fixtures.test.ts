// SmoothQuant W8A8 on the golden fixture models, run by the reference backend: logits against the
// float (HF) goldens within a stated bound, and a reloaded checkpoint gives bit-identical logits.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, quantizeLinears } from '@duo-attn/core';
import { compareLogits, GOLDEN_MODELS, openGoldenModel } from '@duo-attn/core/testing';
import { describe, expect, it } from 'vitest';
import { quantizeModelW8A8 } from '../src/quantize-model.js';
import { loadQuantizedModel } from '../src/read-checkpoint.js';
import { writeQuantizedCheckpoint } from '../src/write-checkpoint.js';
import { allLogits } from './reference-logits.js';

/** Max |error| / max |golden| allowed for W8A8 logits on the random-weight fixtures (observed ≤ 0.045). */
const W8A8_RELATIVE_TOLERANCE = 0.06;

describe.each(GOLDEN_MODELS)('W8A8 on fixture %s', (name) => {
  it(`matches the float goldens within ${W8A8_RELATIVE_TOLERANCE} relative, and reloads bit-identically`, async () => {
    const golden = await openGoldenModel(name);
    const float = await loadModel(golden.directory);
    const { inputIds, hf } = golden.manifest;
    // Calibration on text other than the evaluated ids: two slices of reversed ids.
    const calibration = [[...inputIds].reverse().slice(0, 24), [...inputIds].reverse().slice(24)];
    const quantized = await quantizeModelW8A8(float, { calibration });
    const expected = await golden.tensor(hf.fullLogits);
    const smoothed = compareLogits(await allLogits(quantized, inputIds), expected, float.config.vocabSize);
    const plain = compareLogits(
      await allLogits(quantizeLinears(float), inputIds),
      expected,
      float.config.vocabSize,
    );
    expect(smoothed.relativeError).toBeGreaterThan(0);
    expect(smoothed.relativeError).toBeLessThanOrEqual(W8A8_RELATIVE_TOLERANCE);
    expect(plain.relativeError).toBeLessThanOrEqual(W8A8_RELATIVE_TOLERANCE);

    const dir = join(await mkdtemp(join(tmpdir(), 'duo-w8a8-')), name);
    await writeQuantizedCheckpoint(dir, quantized, { sourceDirectory: golden.directory });
    const reloaded = await loadQuantizedModel(dir);
    expect(await allLogits(reloaded, inputIds)).toEqual(await allLogits(quantized, inputIds));
  });
});
