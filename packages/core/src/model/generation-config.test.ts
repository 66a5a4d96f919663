import { describe, expect, it } from 'vitest';
import { parseGenerationConfig } from './generation-config.js';
import { ModelConfigError } from './model-errors.js';

describe('parseGenerationConfig', () => {
  it('keeps the keys it knows, as camelCase, and drops absent or null ones', () => {
    expect(
      parseGenerationConfig(
        {
          bos_token_id: 128000,
          eos_token_id: [128001, 128008, 128009],
          pad_token_id: null,
          do_sample: true,
          temperature: 0.6,
          top_p: 0.9,
          top_k: 0,
          repetition_penalty: 1.1,
          max_new_tokens: 64,
          max_length: 4096,
          transformers_version: '5.17.0',
        },
        'generation_config.json',
      ),
    ).toEqual({
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      doSample: true,
      temperature: 0.6,
      topP: 0.9,
      topK: 0,
      repetitionPenalty: 1.1,
      maxNewTokens: 64,
      maxLength: 4096,
    });
    expect(parseGenerationConfig({ eos_token_id: 2 }, 'g').eosTokenIds).toEqual([2]);
    expect(parseGenerationConfig({}, 'g')).toEqual({});
  });

  it.each([
    [{ do_sample: 'yes' }, 'do_sample'],
    [{ temperature: -1 }, 'temperature'],
    [{ top_k: 1.5 }, 'top_k'],
    [{ eos_token_id: 'x' }, 'eos_token_id'],
    [{ max_new_tokens: 0 }, 'max_new_tokens'],
  ])('rejects %j naming the key', (json, key) => {
    try {
      parseGenerationConfig(json, '/m/generation_config.json');
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(ModelConfigError);
      expect((error as ModelConfigError).key).toBe(key);
      expect((error as ModelConfigError).message).toContain('/m/generation_config.json');
    }
  });
});
