import { generationDefaults } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { engineOptions } from './generation-options.js';

const GREEDY_MODEL = generationDefaults({ repetitionPenalty: 1.1 });
const SAMPLING_MODEL = generationDefaults({ doSample: true, temperature: 0.6, topP: 0.9, maxNewTokens: 64 });

describe('engineOptions', () => {
  it("follows the model's defaults and stops at its end-of-sequence ids", () => {
    expect(engineOptions({}, GREEDY_MODEL, [2, 7], 4096)).toEqual({
      maxNewTokens: 128,
      greedy: true,
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1.1,
      stopTokenIds: [2, 7],
      contextLength: 4096,
    });
    expect(engineOptions({}, SAMPLING_MODEL, [2], 4096)).toMatchObject({
      maxNewTokens: 64,
      greedy: false,
      temperature: 0.6,
      topK: 50,
      topP: 0.9,
    });
  });

  it('a temperature, top-k or top-p asks for sampling; greedy and ignoreEos override the model', () => {
    expect(engineOptions({ temperature: 0.8 }, GREEDY_MODEL, [2], 64)).toMatchObject({
      greedy: false,
      temperature: 0.8,
      topK: 0,
      topP: 1,
    });
    expect(engineOptions({ topK: 5 }, SAMPLING_MODEL, [2], 64)).toMatchObject({
      greedy: false,
      topK: 5,
      temperature: 0.6,
    });
    expect(engineOptions({ greedy: true }, SAMPLING_MODEL, [2], 64).greedy).toBe(true);
    expect(engineOptions({ ignoreEos: true, stopTokenIds: [9] }, GREEDY_MODEL, [2], 64).stopTokenIds).toEqual(
      [9],
    );
    expect(engineOptions({ stopTokenIds: [9, 2] }, GREEDY_MODEL, [2], 64).stopTokenIds).toEqual([2, 9]);
  });
});
