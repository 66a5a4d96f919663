// A `duo quantize` checkpoint (W8A8, SmoothQuant) of the bundled toy model loads through the entry
// point as it is, runs on the cpu backend and still finds the needle.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadTokenizer } from '@duo-attn/core';
import { quantizeModelW8A8, writeQuantizedCheckpoint } from '@duo-attn/quant';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLanguageModel } from '../src/index.js';
import { ANSWERS, HAYSTACK, question, TOY } from './toy-model.js';

describe('a quantized (W8A8) model directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'duo-llm-w8a8-')), 'toy-w8a8');
    const model = await loadModel(TOY);
    const tokenizer = await loadTokenizer(TOY);
    const calibration = [
      tokenizer.encode(HAYSTACK + question('frozen harbor')),
      tokenizer.encode(`${HAYSTACK} ${HAYSTACK}`),
    ];
    await writeQuantizedCheckpoint(dir, await quantizeModelW8A8(model, { calibration }), {
      sourceDirectory: TOY,
    });
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('loads with loadLanguageModel, runs W8A8 on cpu and answers', async () => {
    const model = await loadLanguageModel(dir);
    try {
      expect(model.backendName).toBe('cpu');
      const result = await model.generate(HAYSTACK + question('silver lantern'));
      expect(result.text).toBe(ANSWERS['silver lantern']);
      expect(result.finishReason).toBe('stop-token');
    } finally {
      await model.dispose();
    }
  });
});
