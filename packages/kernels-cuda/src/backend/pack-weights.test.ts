// The upload list: fused q|k|v and gate|up in the order the kernels read, heads reordered by the
// policy, bf16 rounding, and no lm_head for tied embeddings.
import {
  bfloat16ToFloat32Array,
  createRandomModel,
  float32ToBfloat16Array,
  fullPolicy,
  policyFromMask,
  reorderWeights,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { WeightKind } from '../binding.js';
import { packWeights } from './pack-weights.js';

const toFloat = (bits: Uint16Array) => {
  const out = new Float32Array(bits.length);
  bfloat16ToFloat32Array(bits, out);
  return out;
};

describe('packWeights', () => {
  const model = createRandomModel({
    numLayers: 2,
    hiddenSize: 16,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 24,
    vocabSize: 40,
  });
  const { config } = model;

  it('lists model-level tensors, then six per layer, with the sizes the native model expects', () => {
    const packed = [...packWeights(model.weights, config, fullPolicy(config))];
    expect(packed.map((w) => [w.kind, w.layer])).toEqual([
      [WeightKind.embed, -1],
      [WeightKind.finalNorm, -1],
      [WeightKind.lmHead, -1],
      ...[0, 1].flatMap((layer) =>
        [
          WeightKind.inputNorm,
          WeightKind.qkv,
          WeightKind.o,
          WeightKind.postNorm,
          WeightKind.gateUp,
          WeightKind.down,
        ].map((kind) => [kind, layer]),
      ),
    ]);
    const d = config.headDim;
    const qkv = packed.find((w) => w.kind === WeightKind.qkv)!;
    expect(qkv.data.length).toBe((config.numHeads + 2 * config.numKvHeads) * d * config.hiddenSize);
    const gateUp = packed.find((w) => w.kind === WeightKind.gateUp)!;
    expect(gateUp.data.length).toBe(2 * config.intermediateSize * config.hiddenSize);
  });

  it('fuses reordered q, k, v rows (retrieval heads first) and gate, up rows, rounded to bf16', () => {
    // Layer 0 keeps KV head 1 as its retrieval head: reordering swaps the two KV heads.
    const policy = policyFromMask(
      [
        [0, 1],
        [1, 1],
      ],
      { sinkSize: 2, recentSize: 4 },
    );
    const reordered = reorderWeights(model.weights, config, policy).layers[0]!;
    const packed = [...packWeights(model.weights, config, policy)];
    const qkv = toFloat(packed.find((w) => w.kind === WeightKind.qkv && w.layer === 0)!.data);
    const expected = toFloat(
      float32ToBfloat16Array(new Float32Array([...reordered.qProj, ...reordered.kProj, ...reordered.vProj])),
    );
    expect(qkv).toEqual(expected);
    // The retrieval head (original 1) now leads the k rows.
    const kRowsStart = config.numHeads * config.headDim * config.hiddenSize;
    const originalHead1 = model.weights.layers[0]!.kProj.subarray(config.headDim * config.hiddenSize);
    expect(qkv[kRowsStart]).toBe(toFloat(float32ToBfloat16Array(originalHead1.subarray(0, 1)))[0]);
    const gateUp = toFloat(packed.find((w) => w.kind === WeightKind.gateUp && w.layer === 0)!.data);
    expect(gateUp).toEqual(
      toFloat(float32ToBfloat16Array(new Float32Array([...reordered.gateProj, ...reordered.upProj]))),
    );
  });

  it('yields no lm_head for tied embeddings', () => {
    const tied = createRandomModel({
      numLayers: 1,
      hiddenSize: 16,
      numHeads: 2,
      numKvHeads: 2,
      tieWordEmbeddings: true,
    });
    const kinds = [...packWeights(tied.weights, tied.config, fullPolicy(tied.config))].map((w) => w.kind);
    expect(kinds).not.toContain(WeightKind.lmHead);
  });
});
