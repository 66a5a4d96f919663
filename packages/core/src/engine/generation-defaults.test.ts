import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../model/model-types.js';
import { DEFAULT_MAX_NEW_TOKENS, endOfSequenceIds, generationDefaults } from './generation-defaults.js';

describe('generationDefaults', () => {
  it('is greedy without a file or without do_sample, keeping the repetition penalty and token budget', () => {
    expect(generationDefaults(undefined)).toEqual({
      greedy: true,
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      maxNewTokens: DEFAULT_MAX_NEW_TOKENS,
    });
    // temperature/top_p without do_sample are ignored, as by transformers.
    expect(
      generationDefaults({ temperature: 0.6, topP: 0.9, repetitionPenalty: 1.1, maxNewTokens: 32 }),
    ).toEqual({ greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1.1, maxNewTokens: 32 });
  });

  it("samples with the file's settings when do_sample is true, transformers' top_k 50 where absent", () => {
    expect(generationDefaults({ doSample: true, temperature: 0.6, topP: 0.9 })).toEqual({
      greedy: false,
      temperature: 0.6,
      topK: 50,
      topP: 0.9,
      repetitionPenalty: 1,
      maxNewTokens: DEFAULT_MAX_NEW_TOKENS,
    });
    expect(generationDefaults({ doSample: true, topK: 0 }).topK).toBe(0);
  });
});

describe('endOfSequenceIds', () => {
  it('unites generation_config, config and tokenizer ids without repeats', () => {
    const config = { eosTokenIds: [2] } as unknown as ModelConfig;
    expect(
      endOfSequenceIds({ config, generationConfig: { eosTokenIds: [7, 2] } }, { eosTokenIds: [9, 7] }),
    ).toEqual([7, 2, 9]);
    expect(endOfSequenceIds({ config })).toEqual([2]);
  });
});
