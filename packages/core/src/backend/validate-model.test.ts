// Shared model and forward-request validation used by every backend.
import { describe, expect, it } from 'vitest';
import { createRandomModel } from '../model/random-model-source.js';
import { checkForwardRequest } from './validate-forward.js';
import { resolveLoadOptions, validateModelConfig, validateModelSource } from './validate-model.js';

function thrown(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('model and request validation', () => {
  const model = createRandomModel({ attentionBias: true, mlpBias: true });

  it('accepts a well-formed model', () => {
    expect(() => validateModelSource(model)).not.toThrow();
  });

  it('names the config field or tensor that is wrong', () => {
    expect(thrown(() => validateModelConfig({ ...model.config, numKvHeads: 3 })).message).toMatch(
      /numHeads 4 is not a multiple of numKvHeads 3/,
    );
    expect(thrown(() => validateModelConfig({ ...model.config, headDim: 7 })).message).toMatch(
      /headDim must be even/,
    );
    expect(thrown(() => validateModelConfig({ ...model.config, vocabSize: 0 })).message).toMatch(/vocabSize/);
    const layer = model.weights.layers[1]!;
    const withLayer = (patch: object) => ({
      ...model,
      weights: { ...model.weights, layers: [model.weights.layers[0]!, { ...layer, ...patch }] },
    });
    const missing = thrown(() => validateModelSource(withLayer({ kBias: undefined })));
    expect(missing.code).toBe('E_WEIGHTS');
    expect(missing.message).toMatch(/layers\.1\.kBias is missing/);
    const noBias = createRandomModel();
    const extra = {
      ...noBias,
      weights: {
        ...noBias.weights,
        layers: noBias.weights.layers.map((l) => ({ ...l, qBias: new Float32Array(32) })),
      },
    };
    expect(thrown(() => validateModelSource(extra)).message).toMatch(
      /layers\.0\.qBias is present but config attentionBias is false/,
    );
    expect(
      thrown(() =>
        validateModelSource({ ...model, weights: { ...model.weights, norm: new Float32Array(3) } }),
      ).message,
    ).toMatch(/weight norm has 3 values, expected \[32\] = 32/);
  });

  it('defaults maxSequences and checks forward requests', () => {
    expect(resolveLoadOptions({ maxTokens: 4 })).toEqual({ maxTokens: 4, maxSequences: 1 });
    const limits = { maxSequences: 2, maxTokens: 4, vocabSize: 10 };
    expect(() => checkForwardRequest(limits, 1, [0, 9], 2)).not.toThrow();
    expect(thrown(() => checkForwardRequest(limits, 1, [0, 9], 3)).code).toBe('E_CAPACITY');
    expect(thrown(() => checkForwardRequest(limits, 2, [0], 0)).code).toBe('E_INPUT');
    expect(thrown(() => checkForwardRequest(limits, 0, [0, Number.NaN], 0)).code).toBe('E_TOKEN_ID');
  });
});
