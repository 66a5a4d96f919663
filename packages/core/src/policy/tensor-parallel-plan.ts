// Tensor parallelism's memory plan (issue #16): Megatron-style splits (q|k|v and gate|up by output
// columns, o_proj and down_proj by input rows, one all-reduce after each of the latter), with each
// GPU holding an equal number of KV heads per layer and their query heads. DuoAttention makes the
// heads unequal: a retrieval head's cache grows with the context, a streaming head's does not. So
// the plan deals each layer's retrieval heads out so that every GPU ends up with the same number of
// retrieval heads over all layers (within one), which balances the KV bytes that grow, not the head
// counts. Embeddings, the LM head and the norms are replicated on every GPU.
import type { ModelConfig } from '../model/model-types.js';
import { validatePolicyForModel } from './create-policy.js';
import type { KvCachePolicy } from './kv-cache-policy.js';
import { capacityTokens, countParameters, kvBytesPerTokenHead, type WeightDtype } from './memory-planner.js';
import { PolicyError } from './policy-error.js';

/** One GPU's share of a tensor-parallel model. */
export interface TensorParallelRank {
  readonly rank: number;
  /** Per layer, the KV heads (original indices, ascending) this GPU holds, with their query heads. */
  readonly kvHeads: readonly (readonly number[])[];
  /** Retrieval KV heads over all layers. */
  readonly retrievalKvHeads: number;
  readonly weightBytes: number;
  /** KV bytes each token of context adds on this GPU (its retrieval heads). */
  readonly kvBytesPerToken: number;
  /** Constant bytes of this GPU's streaming heads (sink + recent window). */
  readonly streamingKvBytes: number;
  /** Tokens that fit in `memoryBytesPerGpu` on this GPU (null: unbounded). Absent without a budget. */
  readonly capacityTokens?: number | null;
}

/** The plan of {@link planTensorParallel}. */
export interface TensorParallelPlan {
  readonly worldSize: number;
  readonly ranks: readonly TensorParallelRank[];
  /** Tokens of context the whole group fits: the smallest capacity of any GPU. Absent without a budget. */
  readonly capacityTokens?: number | null;
  /** Bytes each GPU sends into the two all-reduces of a layer per token (hidden size x activation bytes x 2). */
  readonly allReduceBytesPerTokenPerLayer: number;
}

/** Options of {@link planTensorParallel}. */
export interface TensorParallelOptions {
  readonly worldSize: number;
  readonly weightDtype: WeightDtype;
  /** Each GPU's memory budget in bytes; when given, capacities are computed. */
  readonly memoryBytesPerGpu?: number;
  /** Bytes of one activation value in the all-reduces. Default 2 (bf16). */
  readonly activationBytes?: number;
}

/**
 * Splits `config` under `policy` over `worldSize` GPUs and says what each holds.
 *
 * @throws PolicyError when the heads or the MLP do not divide by `worldSize`.
 */
export function planTensorParallel(
  config: ModelConfig,
  policy: KvCachePolicy,
  options: TensorParallelOptions,
): TensorParallelPlan {
  validatePolicyForModel(policy, config);
  const n = options.worldSize;
  if (!Number.isSafeInteger(n) || n < 1) throw new PolicyError(`worldSize must be an integer >= 1, got ${n}`);
  for (const [name, value] of [
    ['num_key_value_heads', config.numKvHeads],
    ['num_attention_heads', config.numHeads],
    ['intermediate_size', config.intermediateSize],
  ] as const) {
    if (value % n !== 0) {
      throw new PolicyError(`${name} (${value}) does not divide by the tensor-parallel size ${n}`);
    }
  }
  const headsPerRank = config.numKvHeads / n;
  const kvHeads: number[][][] = Array.from({ length: n }, () => []);
  const retrievalTotals = new Array<number>(n).fill(0);
  for (const layer of policy.layers) {
    const retrieval = [...layer.retrievalKvHeads].sort((a, b) => a - b);
    const streaming = [...layer.streamingKvHeads].sort((a, b) => a - b);
    const base = Math.floor(retrieval.length / n);
    const extra = retrieval.length % n;
    // The layer's leftover retrieval heads go to the GPUs holding the fewest so far (lowest rank
    // first on ties), which keeps every GPU's total within one head of every other's.
    const order = [...retrievalTotals.keys()].sort(
      (a, b) => retrievalTotals[a]! - retrievalTotals[b]! || a - b,
    );
    const counts = new Array<number>(n).fill(base);
    for (const rank of order.slice(0, extra)) counts[rank]! += 1;
    let r = 0;
    let s = 0;
    for (let rank = 0; rank < n; rank++) {
      const heads = retrieval.slice(r, r + counts[rank]!);
      r += counts[rank]!;
      const fill = headsPerRank - heads.length;
      heads.push(...streaming.slice(s, s + fill));
      s += fill;
      kvHeads[rank]!.push(heads.sort((a, b) => a - b));
      retrievalTotals[rank]! += counts[rank]!;
    }
  }
  const perHead = kvBytesPerTokenHead(policy.cacheDtype, config.headDim);
  const window = policy.sinkSize + policy.recentSize;
  const weights = rankWeightBytes(config, options.weightDtype, n);
  const ranks: TensorParallelRank[] = kvHeads.map((layers, rank) => {
    const retrievalKvHeads = retrievalTotals[rank]!;
    const streamingKvHeadsTotal = headsPerRank * config.numLayers - retrievalKvHeads;
    const kvBytesPerToken = 2 * retrievalKvHeads * perHead;
    const streamingKvBytes = 2 * window * streamingKvHeadsTotal * perHead;
    const entry = {
      rank,
      kvHeads: layers,
      retrievalKvHeads,
      weightBytes: weights,
      kvBytesPerToken,
      streamingKvBytes,
    };
    if (options.memoryBytesPerGpu === undefined) return entry;
    const capacity = capacityTokens(options.memoryBytesPerGpu, {
      weightBytes: weights,
      constantBytes: streamingKvBytes,
      bytesPerToken: kvBytesPerToken,
    });
    return { ...entry, capacityTokens: Number.isFinite(capacity) ? capacity : null };
  });
  const plan = {
    worldSize: n,
    ranks,
    allReduceBytesPerTokenPerLayer: 2 * config.hiddenSize * (options.activationBytes ?? 2),
  };
  if (options.memoryBytesPerGpu === undefined) return plan;
  const finite = ranks
    .map((rank) => rank.capacityTokens)
    .filter((c): c is number => c !== null && c !== undefined);
  return { ...plan, capacityTokens: finite.length === 0 ? null : Math.min(...finite) };
}

/** One GPU's weight bytes: the split linear layers' share plus everything replicated. */
function rankWeightBytes(config: ModelConfig, weightDtype: WeightDtype, n: number): number {
  const counts = countParameters(config);
  const h = config.hiddenSize;
  const qkvOut = (config.numHeads + 2 * config.numKvHeads) * config.headDim;
  const i = config.intermediateSize;
  const linear = counts.linear / n;
  // Column-split layers divide their output channels (and biases); row-split o and down keep all h.
  const channels = config.numLayers * (qkvOut / n + h + (2 * i) / n + h);
  const attentionBias = config.attentionBias ? qkvOut / n : 0;
  const mlpBias = config.mlpBias ? (2 * i) / n + h : 0;
  const biases = config.numLayers * (attentionBias + mlpBias);
  const replicated = counts.embedding + counts.lmHead + counts.norms;
  switch (weightDtype) {
    case 'fp32':
      return 4 * (linear + biases + replicated);
    case 'bf16':
    case 'fp16':
      return 2 * (linear + biases + replicated);
    case 'int8':
      return linear + 2 * channels + 2 * (biases + replicated);
    default:
      throw new PolicyError(`unknown weight dtype ${String(weightDtype)}`);
  }
}
