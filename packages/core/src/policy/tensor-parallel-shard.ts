// One GPU's share of a tensor-parallel model (issue #16), cut from the full weights as
// planTensorParallel decides: per layer, the rank's KV heads (not necessarily contiguous: the plan
// deals retrieval heads out to balance their bytes) with their query heads, Megatron-style. q, k, v,
// gate and up are split by output rows (column-parallel), o and down by input columns (row-parallel):
// the rank's o and down outputs are partial sums, and the model's layer output is the all-reduce
// (sum over ranks) of them plus the residual. Row-parallel biases go to rank 0 only, so the sum adds
// them once. Embeddings, norms and the LM head are shared (the same arrays, not copies).
import type { LayerWeights, ModelConfig, ModelWeights } from '../model/model-types.js';
import type { KvCachePolicy } from './kv-cache-policy.js';
import { PolicyError } from './policy-error.js';
import type { TensorParallelPlan } from './tensor-parallel-plan.js';

/** What one rank runs: its slice of the weights, the shapes it sees, and its heads' policy. */
export interface TensorParallelShard {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * The model as this rank sees it: `numHeads`, `numKvHeads` and `intermediateSize` divided by the
   * world size, everything else unchanged.
   */
  readonly config: ModelConfig;
  /** This rank's weights, heads in the order of {@link kvHeads} (ascending original indices). */
  readonly weights: ModelWeights;
  /** Per layer, the original indices of the KV heads this rank holds (local head i is `kvHeads[l][i]`). */
  readonly kvHeads: readonly (readonly number[])[];
  /** The policy over the local heads: a local head is retrieval iff its original head is. */
  readonly policy: KvCachePolicy;
}

/**
 * Cuts rank `rank`'s shard of `weights` (a model of `config` under `policy`) as `plan` assigns it.
 *
 * @throws PolicyError when the plan does not fit the model (another head count, layer count, or rank).
 */
export function shardForTensorParallel(
  config: ModelConfig,
  weights: ModelWeights,
  policy: KvCachePolicy,
  plan: TensorParallelPlan,
  rank: number,
): TensorParallelShard {
  const n = plan.worldSize;
  const share = plan.ranks[rank];
  if (!Number.isInteger(rank) || share === undefined) {
    throw new PolicyError(`rank ${rank} is outside the plan's world of ${n}`);
  }
  if (share.kvHeads.length !== config.numLayers || policy.layers.length !== config.numLayers) {
    throw new PolicyError(
      `the plan has ${share.kvHeads.length} layers and the policy ${policy.layers.length}, the model ${config.numLayers}`,
    );
  }
  const localKv = config.numKvHeads / n;
  const group = config.numHeads / config.numKvHeads;
  const d = config.headDim;
  const h = config.hiddenSize;
  const slice = config.intermediateSize / n;
  const mlpFrom = rank * slice;
  const layers = weights.layers.map((layer, l): LayerWeights => {
    const kvHeads = share.kvHeads[l]!;
    if (kvHeads.length !== localKv || kvHeads.some((head) => head < 0 || head >= config.numKvHeads)) {
      throw new PolicyError(
        `layer ${l}: rank ${rank} of the plan holds heads [${kvHeads}], expected ${localKv} of ${config.numKvHeads}`,
      );
    }
    const queryHeads = kvHeads.flatMap((kv) => Array.from({ length: group }, (_, g) => kv * group + g));
    const rows = (matrix: Float32Array, heads: readonly number[], columns: number) =>
      gatherRows(
        matrix,
        columns,
        heads.map((head) => [head * d, d] as const),
      );
    const bias = (vector: Float32Array | undefined, heads: readonly number[]) =>
      vector === undefined
        ? undefined
        : gatherRows(
            vector,
            1,
            heads.map((head) => [head * d, d] as const),
          );
    const mlpRows = (matrix: Float32Array) => gatherRows(matrix, h, [[mlpFrom, slice]]);
    return {
      inputNorm: layer.inputNorm,
      qProj: rows(layer.qProj, queryHeads, h),
      kProj: rows(layer.kProj, kvHeads, h),
      vProj: rows(layer.vProj, kvHeads, h),
      oProj: gatherColumns(
        layer.oProj,
        h,
        config.numHeads * d,
        queryHeads.map((head) => [head * d, d] as const),
      ),
      ...(layer.qBias === undefined ? {} : { qBias: bias(layer.qBias, queryHeads)! }),
      ...(layer.kBias === undefined ? {} : { kBias: bias(layer.kBias, kvHeads)! }),
      ...(layer.vBias === undefined ? {} : { vBias: bias(layer.vBias, kvHeads)! }),
      postAttentionNorm: layer.postAttentionNorm,
      gateProj: mlpRows(layer.gateProj),
      upProj: mlpRows(layer.upProj),
      downProj: gatherColumns(layer.downProj, h, config.intermediateSize, [[mlpFrom, slice]]),
      ...(layer.gateBias === undefined ? {} : { gateBias: layer.gateBias.slice(mlpFrom, mlpFrom + slice) }),
      ...(layer.upBias === undefined ? {} : { upBias: layer.upBias.slice(mlpFrom, mlpFrom + slice) }),
      // Row-parallel: the partial sums are all-reduced, so only one rank adds the bias.
      ...(layer.downBias === undefined
        ? {}
        : { downBias: rank === 0 ? layer.downBias : new Float32Array(layer.downBias.length) }),
    };
  });
  const localPolicy: KvCachePolicy = {
    ...policy,
    layers: policy.layers.map((split, l) => {
      const kvHeads = share.kvHeads[l]!;
      const retrieval = new Set(split.retrievalKvHeads);
      const local = kvHeads.map((_, index) => index);
      return {
        retrievalKvHeads: local.filter((index) => retrieval.has(kvHeads[index]!)),
        streamingKvHeads: local.filter((index) => !retrieval.has(kvHeads[index]!)),
      };
    }),
  };
  return {
    rank,
    worldSize: n,
    config: {
      ...config,
      numHeads: config.numHeads / n,
      numKvHeads: localKv,
      intermediateSize: slice,
    },
    weights: { embedTokens: weights.embedTokens, layers, norm: weights.norm, lmHead: weights.lmHead },
    kvHeads: share.kvHeads,
    policy: localPolicy,
  };
}

/** Rows `[start, start + count)` of each range of a `[rows, columns]` matrix, stacked. */
function gatherRows(
  matrix: Float32Array,
  columns: number,
  ranges: readonly (readonly [start: number, count: number])[],
): Float32Array {
  const out = new Float32Array(ranges.reduce((sum, [, count]) => sum + count, 0) * columns);
  let offset = 0;
  for (const [start, count] of ranges) {
    out.set(matrix.subarray(start * columns, (start + count) * columns), offset);
    offset += count * columns;
  }
  return out;
}

/** Columns `[start, start + count)` of each range of a `[rows, columns]` matrix, side by side. */
function gatherColumns(
  matrix: Float32Array,
  rows: number,
  columns: number,
  ranges: readonly (readonly [start: number, count: number])[],
): Float32Array {
  const width = ranges.reduce((sum, [, count]) => sum + count, 0);
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    let offset = r * width;
    for (const [start, count] of ranges) {
      out.set(matrix.subarray(r * columns + start, r * columns + start + count), offset);
      offset += count;
    }
  }
  return out;
}
