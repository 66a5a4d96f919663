// Permutes each layer's attention weights so its retrieval KV heads (and their query-head groups)
// come first. Backends then address the two head classes as contiguous slices, not gathers
// (reference spec §1.6); the layer computes the same function because o_proj is permuted to match.
import type { LayerWeights, ModelConfig, ModelWeights } from '../model/model-types.js';
import type { Int8Linear } from '../quant/int8-weights.js';
import type { W8A8LayerWeights, W8A8Weights } from '../quant/w8a8-weights.js';
import { validatePolicyForModel } from './create-policy.js';
import type { KvCachePolicy } from './kv-cache-policy.js';
import { PolicyError } from './policy-error.js';

/**
 * KV-head order of one layer after reordering: retrieval heads, then streaming heads, each in
 * original (ascending) order. Entry `i` is the original index of the head now at slot `i`.
 */
export function reorderedKvHeads(policy: KvCachePolicy, layer: number): number[] {
  const split = policy.layers[layer];
  if (split === undefined) throw new PolicyError(`policy has no layer ${layer}`);
  return [...split.retrievalKvHeads, ...split.streamingKvHeads];
}

/**
 * Returns weights whose layers have retrieval KV heads first (stable partition): q_proj rows and
 * q bias by query-head group (query heads `h*G .. h*G+G-1` follow KV head `h`), k/v rows and biases
 * by KV head, o_proj columns by query-head group. Never mutates its inputs; layers whose order is
 * unchanged are returned as they are, and unpermuted tensors (norms, MLP) are shared.
 */
export function reorderWeights(
  weights: ModelWeights,
  config: ModelConfig,
  policy: KvCachePolicy,
): ModelWeights {
  validatePolicyForModel(policy, config);
  if (weights.layers.length !== config.numLayers) {
    throw new PolicyError(
      `weights have ${weights.layers.length} layers but the config has ${config.numLayers}`,
    );
  }
  const { numHeads, numKvHeads, headDim, hiddenSize } = config;
  if (numHeads % numKvHeads !== 0) {
    throw new PolicyError(`numHeads ${numHeads} is not a multiple of numKvHeads ${numKvHeads}`);
  }
  const groupSize = numHeads / numKvHeads;
  const layers = weights.layers.map((layerWeights, layer): LayerWeights => {
    const order = reorderedKvHeads(policy, layer);
    if (order.every((head, slot) => head === slot)) return layerWeights;
    // Query-head order: each KV head brings its group of G query heads along.
    const queryOrder = order.flatMap((kvHead) =>
      Array.from({ length: groupSize }, (_, g) => kvHead * groupSize + g),
    );
    const qRows = headDim * hiddenSize;
    const kvRows = headDim * hiddenSize;
    const reordered: LayerWeights = {
      ...layerWeights,
      qProj: permuteBlocks(layerWeights.qProj, queryOrder, qRows, `layer ${layer} qProj`),
      kProj: permuteBlocks(layerWeights.kProj, order, kvRows, `layer ${layer} kProj`),
      vProj: permuteBlocks(layerWeights.vProj, order, kvRows, `layer ${layer} vProj`),
      oProj: permuteColumnBlocks(layerWeights.oProj, queryOrder, headDim, hiddenSize, `layer ${layer} oProj`),
    };
    return {
      ...reordered,
      ...(layerWeights.qBias && {
        qBias: permuteBlocks(layerWeights.qBias, queryOrder, headDim, `layer ${layer} qBias`),
      }),
      ...(layerWeights.kBias && {
        kBias: permuteBlocks(layerWeights.kBias, order, headDim, `layer ${layer} kBias`),
      }),
      ...(layerWeights.vBias && {
        vBias: permuteBlocks(layerWeights.vBias, order, headDim, `layer ${layer} vBias`),
      }),
    };
  });
  return { ...weights, layers };
}

/**
 * The int8 linears of `w8a8` permuted as {@link reorderWeights} permutes the float ones: q/k/v rows
 * with their per-output-channel scales, o_proj columns (its scales are per output row, unchanged).
 */
export function reorderW8A8Weights(
  w8a8: W8A8Weights,
  config: ModelConfig,
  policy: KvCachePolicy,
): W8A8Weights {
  validatePolicyForModel(policy, config);
  const { numHeads, numKvHeads, headDim, hiddenSize } = config;
  const groupSize = numHeads / numKvHeads;
  const layers = w8a8.layers.map((layer, index): W8A8LayerWeights => {
    const order = reorderedKvHeads(policy, index);
    if (order.every((head, slot) => head === slot)) return layer;
    const queryOrder = order.flatMap((kvHead) =>
      Array.from({ length: groupSize }, (_, g) => kvHead * groupSize + g),
    );
    const rows = (linear: Int8Linear, headOrder: readonly number[], what: string): Int8Linear => ({
      ...linear,
      weight: permuteBlocks(linear.weight, headOrder, headDim * hiddenSize, `layer ${index} ${what}`),
      scale: permuteBlocks(linear.scale, headOrder, headDim, `layer ${index} ${what} scale`),
    });
    return {
      ...layer,
      qProj: rows(layer.qProj, queryOrder, 'qProj'),
      kProj: rows(layer.kProj, order, 'kProj'),
      vProj: rows(layer.vProj, order, 'vProj'),
      oProj: {
        ...layer.oProj,
        weight: permuteColumnBlocks(
          layer.oProj.weight,
          queryOrder,
          headDim,
          hiddenSize,
          `layer ${index} oProj`,
        ),
      },
    };
  });
  return { layers };
}

/** New array whose block `i` (of `blockLength` contiguous values) is block `order[i]` of `source`. */
function permuteBlocks<T extends Float32Array | Int8Array>(
  source: T,
  order: readonly number[],
  blockLength: number,
  what: string,
): T {
  if (source.length !== order.length * blockLength) {
    throw new PolicyError(`${what} has ${source.length} values, expected ${order.length * blockLength}`);
  }
  const out = new (source.constructor as new (length: number) => T)(source.length);
  order.forEach((from, to) => {
    out.set(source.subarray(from * blockLength, (from + 1) * blockLength), to * blockLength);
  });
  return out;
}

/**
 * New `[rows, order.length * blockWidth]` matrix whose column block `i` is column block `order[i]`
 * of `source`.
 */
function permuteColumnBlocks<T extends Float32Array | Int8Array>(
  source: T,
  order: readonly number[],
  blockWidth: number,
  rows: number,
  what: string,
): T {
  const columns = order.length * blockWidth;
  if (source.length !== rows * columns) {
    throw new PolicyError(
      `${what} has ${source.length} values, expected ${rows * columns} ([${rows}, ${columns}])`,
    );
  }
  const out = new (source.constructor as new (length: number) => T)(source.length);
  for (let row = 0; row < rows; row++) {
    const base = row * columns;
    order.forEach((from, to) => {
      out.set(
        source.subarray(base + from * blockWidth, base + (from + 1) * blockWidth),
        base + to * blockWidth,
      );
    });
  }
  return out;
}
