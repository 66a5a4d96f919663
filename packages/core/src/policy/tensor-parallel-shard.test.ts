// The tensor-parallel split checked on the CPU: every rank runs its shard of a layer, the partial
// o_proj and down_proj outputs are summed (the all-reduce NCCL will do), and the logits must equal
// the reference backend's on the whole model. The plan's head assignment under a mixed policy is not
// contiguous, so this also checks that q, k, v and o follow the same heads.
import { describe, expect, it } from 'vitest';
import { createRandomModel } from '../model/random-model-source.js';
import { RopeAngleTable } from '../model/rope-angle-table.js';
import { createReferenceBackend } from '../reference/reference-backend.js';
import { applyRope, linear, rmsNorm, silu } from '../reference/reference-math.js';
import { policyFromMask } from './create-policy.js';
import { PolicyError } from './policy-error.js';
import { planTensorParallel } from './tensor-parallel-plan.js';
import { shardForTensorParallel, type TensorParallelShard } from './tensor-parallel-shard.js';

const model = createRandomModel({
  seed: 11,
  numLayers: 3,
  hiddenSize: 64,
  numHeads: 8,
  numKvHeads: 4,
  intermediateSize: 96,
  vocabSize: 80,
  attentionBias: true,
  mlpBias: true,
});
const { config } = model;
const policy = policyFromMask(
  [
    [1, 0, 0, 1],
    [0, 1, 1, 1],
    [0, 0, 1, 0],
  ],
  { sinkSize: 2, recentSize: 4 },
);
const ids = [3, 17, 42, 5, 5, 61, 0, 33, 79, 12];

/** One rank's attention block on `x` `[T, H]` (one chunk from an empty cache: causal, every head full). */
function attentionPartial(
  shard: TensorParallelShard,
  layer: number,
  x: Float32Array,
  rope: RopeAngleTable,
): Float32Array {
  const { hiddenSize: h, numHeads, numKvHeads, headDim: d } = shard.config;
  const w = shard.weights.layers[layer]!;
  const rows = ids.length;
  const q = linear(x, rows, w.qProj, h, numHeads * d, w.qBias);
  const k = linear(x, rows, w.kProj, h, numKvHeads * d, w.kBias);
  const v = linear(x, rows, w.vProj, h, numKvHeads * d, w.vBias);
  const angles = rope.angles(0, rows);
  applyRope(q, rows, numHeads, d, angles.cos, angles.sin);
  applyRope(k, rows, numKvHeads, d, angles.cos, angles.sin);
  const group = numHeads / numKvHeads;
  const out = new Float32Array(rows * numHeads * d);
  for (let t = 0; t < rows; t++) {
    for (let head = 0; head < numHeads; head++) {
      const kv = Math.floor(head / group);
      const scores = Array.from({ length: t + 1 }, (_, s) => {
        let dotProduct = 0;
        for (let i = 0; i < d; i++)
          dotProduct += q[(t * numHeads + head) * d + i]! * k[(s * numKvHeads + kv) * d + i]!;
        return dotProduct / Math.sqrt(d);
      });
      const max = Math.max(...scores);
      const weights = scores.map((score) => Math.exp(score - max));
      const total = weights.reduce((sum, weight) => sum + weight, 0);
      for (let i = 0; i < d; i++) {
        let value = 0;
        weights.forEach((weight, s) => {
          value += (weight / total) * v[(s * numKvHeads + kv) * d + i]!;
        });
        out[(t * numHeads + head) * d + i] = value;
      }
    }
  }
  return linear(out, rows, w.oProj, numHeads * d, h);
}

/** One rank's MLP block on `x` `[T, H]`: its slice of gate/up, then its columns of down. */
function mlpPartial(shard: TensorParallelShard, layer: number, x: Float32Array): Float32Array {
  const { hiddenSize: h, intermediateSize: m } = shard.config;
  const w = shard.weights.layers[layer]!;
  const rows = ids.length;
  const gate = linear(x, rows, w.gateProj, h, m, w.gateBias);
  const up = linear(x, rows, w.upProj, h, m, w.upBias);
  const act = gate.map((g, i) => silu(g) * up[i]!);
  return linear(act, rows, w.downProj, m, h, w.downBias);
}

/** The whole model through `shards`, summing their partial outputs after o_proj and down_proj. */
function tensorParallelLogits(shards: readonly TensorParallelShard[]): Float32Array {
  const { hiddenSize: h, vocabSize, rmsNormEps } = config;
  const rope = new RopeAngleTable(config.rope, config.headDim);
  const rows = ids.length;
  const hidden = new Float32Array(rows * h);
  ids.forEach((id, t) => {
    hidden.set(model.weights.embedTokens.subarray(id * h, (id + 1) * h), t * h);
  });
  const allReduceInto = (partials: readonly Float32Array[]) => {
    for (const partial of partials) for (let i = 0; i < hidden.length; i++) hidden[i]! += partial[i]!;
  };
  model.weights.layers.forEach((layer, l) => {
    const normed = rmsNorm(hidden, rows, h, layer.inputNorm, rmsNormEps);
    allReduceInto(shards.map((shard) => attentionPartial(shard, l, normed, rope)));
    const post = rmsNorm(hidden, rows, h, layer.postAttentionNorm, rmsNormEps);
    allReduceInto(shards.map((shard) => mlpPartial(shard, l, post)));
  });
  return linear(
    rmsNorm(hidden, rows, h, model.weights.norm, rmsNormEps),
    rows,
    model.weights.lmHead,
    h,
    vocabSize,
  );
}

describe('shardForTensorParallel', () => {
  it.each([1, 2, 4])(
    'world size %i: the summed shards give the logits of the whole model',
    async (worldSize) => {
      const plan = planTensorParallel(config, policy, { worldSize, weightDtype: 'fp32' });
      const shards = plan.ranks.map((_, rank) =>
        shardForTensorParallel(config, model.weights, policy, plan, rank),
      );
      const executor = await createReferenceBackend().load(model, policy, { maxTokens: 16 });
      const expected = await executor.forward(0, ids, { allLogits: true });
      await executor.dispose();
      const actual = tensorParallelLogits(shards);
      let worst = 0;
      for (let i = 0; i < actual.length; i++)
        worst = Math.max(worst, Math.abs(actual[i]! - expected.logits[i]!));
      expect(worst).toBeLessThan(1e-4);
    },
  );

  it('gives each rank its heads, their policy, and the shapes it runs', () => {
    const plan = planTensorParallel(config, policy, { worldSize: 2, weightDtype: 'fp32' });
    const shards = plan.ranks.map((_, rank) =>
      shardForTensorParallel(config, model.weights, policy, plan, rank),
    );
    for (const shard of shards) {
      expect(shard.config).toMatchObject({
        numHeads: 4,
        numKvHeads: 2,
        intermediateSize: 48,
        hiddenSize: 64,
      });
      expect(shard.weights.layers[0]!.qProj.length).toBe(4 * config.headDim * 64);
      expect(shard.weights.embedTokens).toBe(model.weights.embedTokens);
      shard.policy.layers.forEach((split, l) => {
        const original = (local: readonly number[]) => local.map((index) => shard.kvHeads[l]![index]!);
        expect(
          original(split.retrievalKvHeads).every((head) => policy.layers[l]!.retrievalKvHeads.includes(head)),
        ).toBe(true);
        expect(
          original(split.streamingKvHeads).every((head) => policy.layers[l]!.streamingKvHeads.includes(head)),
        ).toBe(true);
        expect(split.retrievalKvHeads.length + split.streamingKvHeads.length).toBe(2);
      });
    }
    // Every KV head of every layer is on exactly one rank; retrieval heads balanced within one.
    for (let l = 0; l < config.numLayers; l++) {
      expect(shards.flatMap((shard) => shard.kvHeads[l]!).sort()).toEqual([0, 1, 2, 3]);
    }
    const retrieval = shards.map((shard) =>
      shard.policy.layers.reduce((sum, split) => sum + split.retrievalKvHeads.length, 0),
    );
    expect(Math.max(...retrieval) - Math.min(...retrieval)).toBeLessThanOrEqual(1);
    // The row-parallel bias is added once: by rank 0.
    expect(shards[1]!.weights.layers[0]!.downBias!.every((value) => value === 0)).toBe(true);
    expect(shards[0]!.weights.layers[0]!.downBias).toBe(model.weights.layers[0]!.downBias);
  });

  it('refuses a rank outside the plan', () => {
    const plan = planTensorParallel(config, policy, { worldSize: 2, weightDtype: 'fp32' });
    expect(() => shardForTensorParallel(config, model.weights, policy, plan, 2)).toThrow(PolicyError);
  });
});
