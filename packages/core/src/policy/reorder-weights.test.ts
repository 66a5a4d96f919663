// Head reordering: exact permutations on hand-made tensors and invariance of the computed function.
import { describe, expect, it } from 'vitest';
import type { ModelConfig, ModelWeights } from '../model/model-types.js';
import { createRandomModel } from '../model/random-model-source.js';
import { mulberry32 } from '../random.js';
import { ReferenceExecutor } from '../reference/reference-executor.js';
import { fullPolicy, policyFromMask } from './create-policy.js';
import { reorderedKvHeads, reorderWeights } from './reorder-weights.js';

/** A config whose attention tensors are small enough to check by hand: headDim 1, hidden 2. */
function handConfig(): ModelConfig {
  return {
    ...createRandomModel().config,
    numLayers: 2,
    hiddenSize: 2,
    numHeads: 6,
    numKvHeads: 3,
    headDim: 1,
    intermediateSize: 1,
    attentionBias: true,
  };
}

function handWeights(): ModelWeights {
  const ramp = (length: number, base: number) => Float32Array.from({ length }, (_, i) => base + i);
  const layer = () => ({
    inputNorm: ramp(2, 0),
    qProj: ramp(12, 0), // [6, 2]: row r = [2r, 2r + 1]
    kProj: ramp(6, 100), // [3, 2]
    vProj: ramp(6, 200), // [3, 2]
    oProj: ramp(12, 300), // [2, 6]
    qBias: ramp(6, 400),
    kBias: ramp(3, 500),
    vBias: ramp(3, 600),
    postAttentionNorm: ramp(2, 0),
    gateProj: ramp(2, 0),
    upProj: ramp(2, 0),
    downProj: ramp(2, 0),
  });
  return { embedTokens: ramp(4, 0), layers: [layer(), layer()], norm: ramp(2, 0), lmHead: ramp(4, 0) };
}

describe('reorderWeights', () => {
  it('moves retrieval heads first with their query groups, as a stable partition', () => {
    const config = handConfig();
    const weights = handWeights();
    const snapshot = structuredClone(weights);
    const policy = policyFromMask(
      [
        [0, 1, 1],
        [1, 1, 1],
      ],
      { sinkSize: 1, recentSize: 1 },
    );
    expect(reorderedKvHeads(policy, 0)).toEqual([1, 2, 0]);
    const reordered = reorderWeights(weights, config, policy);
    const layer = reordered.layers[0]!;
    // Query heads follow KV heads 1, 2, 0 in groups of 2: [2, 3, 4, 5, 0, 1].
    expect(Array.from(layer.qProj)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3]);
    expect(Array.from(layer.qBias!)).toEqual([402, 403, 404, 405, 400, 401]);
    expect(Array.from(layer.kProj)).toEqual([102, 103, 104, 105, 100, 101]);
    expect(Array.from(layer.vProj)).toEqual([202, 203, 204, 205, 200, 201]);
    expect(Array.from(layer.kBias!)).toEqual([501, 502, 500]);
    expect(Array.from(layer.vBias!)).toEqual([601, 602, 600]);
    // o_proj [2, 6]: columns permuted within each row.
    expect(Array.from(layer.oProj)).toEqual([302, 303, 304, 305, 300, 301, 308, 309, 310, 311, 306, 307]);
    // Inputs untouched; an unchanged layer and untouched tensors are shared.
    expect(weights).toEqual(snapshot);
    expect(layer.qProj).not.toBe(weights.layers[0]!.qProj);
    expect(layer.gateProj).toBe(weights.layers[0]!.gateProj);
    expect(reordered.layers[1]).toBe(weights.layers[1]);
    expect(reordered.embedTokens).toBe(weights.embedTokens);
  });

  it('rejects a policy for another model and weights of the wrong size', () => {
    const config = handConfig();
    expect(() => reorderWeights(handWeights(), config, fullPolicy({ numLayers: 2, numKvHeads: 2 }))).toThrow(
      /2 KV heads per layer but the model has 3/,
    );
    const bad = handWeights();
    const policy = policyFromMask(
      [
        [0, 1, 1],
        [1, 1, 1],
      ],
      { sinkSize: 1, recentSize: 1 },
    );
    const broken = { ...bad, layers: [{ ...bad.layers[0]!, kProj: new Float32Array(5) }, bad.layers[1]!] };
    expect(() => reorderWeights(broken, config, policy)).toThrow(/layer 0 kProj has 5 values, expected 6/);
  });

  it('(e) computes the same function: full attention on reordered weights equals the original', async () => {
    const model = createRandomModel({
      seed: 21,
      numLayers: 3,
      numHeads: 6,
      numKvHeads: 3,
      hiddenSize: 24,
      attentionBias: true,
    });
    const { config } = model;
    const mixed = policyFromMask(
      [
        [0, 1, 0],
        [1, 0, 1],
        [0, 0, 1],
      ],
      { sinkSize: 1, recentSize: 1 },
    );
    const reordered = reorderWeights(model.weights, config, mixed);
    const random = mulberry32(4);
    const tokens = Array.from({ length: 12 }, () => Math.floor(random() * config.vocabSize));
    // Under full attention head order is irrelevant, so both must agree (sums run in another order).
    const run = async (weights: ModelWeights) => {
      const executor = new ReferenceExecutor({
        config,
        policy: fullPolicy(config),
        weights,
        maxTokens: 12,
        maxSequences: 1,
      });
      const first = await executor.forward(0, tokens.slice(0, 7), { allLogits: true });
      const rest = await executor.forward(0, tokens.slice(7), { allLogits: true });
      return [...first.logits, ...rest.logits];
    };
    const original = await run(model.weights);
    const permuted = await run(reordered);
    const diff = Math.max(...original.map((value, i) => Math.abs(value - permuted[i]!)));
    expect(diff).toBeLessThan(1e-5);
    // And the check can fail: permuting q/k/v but not o_proj changes the function.
    const wrong = {
      ...reordered,
      layers: reordered.layers.map((layer, i) => ({ ...layer, oProj: model.weights.layers[i]!.oProj })),
    };
    const broken = await run(wrong);
    expect(Math.max(...original.map((value, i) => Math.abs(value - broken[i]!)))).toBeGreaterThan(1e-3);
  });
});
