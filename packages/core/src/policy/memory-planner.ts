// KV-cache and weight memory arithmetic (DESIGN §3, reference spec §3.5 and §5.3): what a policy
// saves per token of context against full attention, and how many tokens fit in a device budget.
import type { ModelConfig } from '../model/model-types.js';
import { validatePolicyForModel } from './create-policy.js';
import type { KvCacheDtype, KvCachePolicy } from './kv-cache-policy.js';
import { PolicyError } from './policy-error.js';

/**
 * Storage dtype of weights. `int8`: W8A8 layout — linear projections as int8 with one fp16 scale
 * per output channel; embeddings, LM head, norms and biases stay fp16.
 */
export type WeightDtype = 'fp32' | 'bf16' | 'fp16' | 'int8';

/**
 * Bytes one token of one KV head takes for K (or for V) in the given cache dtype. `int4`: `headDim/2`
 * bytes of packed codes plus an fp16 scale and an fp16 zero (DESIGN §5).
 */
export function kvBytesPerTokenHead(cacheDtype: KvCacheDtype, headDim: number): number {
  if (!Number.isInteger(headDim) || headDim <= 0) {
    throw new PolicyError(`headDim must be a positive integer (got ${headDim})`);
  }
  switch (cacheDtype) {
    case 'fp32':
      return 4 * headDim;
    case 'bf16':
    case 'fp16':
      return 2 * headDim;
    case 'int4':
      if (headDim % 2 !== 0) throw new PolicyError(`int4 KV cache needs an even headDim (got ${headDim})`);
      return headDim / 2 + 4;
    default:
      throw new PolicyError(`unknown KV cache dtype ${String(cacheDtype)}`);
  }
}

/** `sum_l 2 * numRetrievalKvHeads(l) * (bytes per token-head)`: KV bytes each token of context adds. */
export function kvBytesPerToken(config: ModelConfig, policy: KvCachePolicy): number {
  validatePolicyForModel(policy, config);
  const perHead = kvBytesPerTokenHead(policy.cacheDtype, config.headDim);
  let bytes = 0;
  for (const split of policy.layers) bytes += 2 * split.retrievalKvHeads.length * perHead;
  return bytes;
}

/** `sum_l 2 * (S + R) * numStreamingKvHeads(l) * (bytes per token-head)`: constant streaming-cache bytes. */
export function streamingKvBytes(config: ModelConfig, policy: KvCachePolicy): number {
  validatePolicyForModel(policy, config);
  const perHead = kvBytesPerTokenHead(policy.cacheDtype, config.headDim);
  const window = policy.sinkSize + policy.recentSize;
  let bytes = 0;
  for (const split of policy.layers) bytes += 2 * window * split.streamingKvHeads.length * perHead;
  return bytes;
}

/** Parameter counts by part of the model. */
export interface ParameterCounts {
  readonly embedding: number;
  /** 0 when tied to the embedding. */
  readonly lmHead: number;
  /** q/k/v/o and MLP matrices of all layers. */
  readonly linear: number;
  /** Attention and MLP biases of all layers. */
  readonly biases: number;
  /** Per-layer norms and the final norm. */
  readonly norms: number;
  readonly total: number;
  /** Output channels of all linear matrices (one int8 scale each). */
  readonly linearOutputChannels: number;
}

/** Counts parameters from the config: embeddings, LM head unless tied, q/k/v/o, biases, norms, MLP. */
export function countParameters(config: ModelConfig): ParameterCounts {
  const {
    vocabSize,
    hiddenSize: h,
    intermediateSize: i,
    numHeads,
    numKvHeads,
    headDim: d,
    numLayers,
  } = config;
  const embedding = vocabSize * h;
  const lmHead = config.tieWordEmbeddings ? 0 : vocabSize * h;
  const qOut = numHeads * d;
  const kvOut = numKvHeads * d;
  const attention = qOut * h + 2 * kvOut * h + h * qOut;
  const mlp = 3 * h * i;
  const linear = numLayers * (attention + mlp);
  const attentionBias = config.attentionBias ? qOut + 2 * kvOut : 0;
  const mlpBias = config.mlpBias ? 2 * i + h : 0;
  const biases = numLayers * (attentionBias + mlpBias);
  const norms = numLayers * 2 * h + h;
  const linearOutputChannels = numLayers * (qOut + 2 * kvOut + h + 2 * i + h);
  return {
    embedding,
    lmHead,
    linear,
    biases,
    norms,
    total: embedding + lmHead + linear + biases + norms,
    linearOutputChannels,
  };
}

/** Bytes of all weights stored in `weightDtype`. */
export function weightBytes(config: ModelConfig, weightDtype: WeightDtype): number {
  const counts = countParameters(config);
  switch (weightDtype) {
    case 'fp32':
      return 4 * counts.total;
    case 'bf16':
    case 'fp16':
      return 2 * counts.total;
    case 'int8':
      return (
        counts.linear +
        2 * counts.linearOutputChannels +
        2 * (counts.embedding + counts.lmHead + counts.biases + counts.norms)
      );
    default:
      throw new PolicyError(`unknown weight dtype ${String(weightDtype)}`);
  }
}

/** The weight dtype a checkpoint's `torchDtype` implies, or undefined when it names none we know. */
export function weightDtypeFromConfig(config: Pick<ModelConfig, 'torchDtype'>): WeightDtype | undefined {
  switch (config.torchDtype) {
    case 'float32':
      return 'fp32';
    case 'bfloat16':
      return 'bf16';
    case 'float16':
      return 'fp16';
    default:
      return undefined;
  }
}

/** Inputs of {@link capacityTokens}. */
export interface CapacityInputs {
  readonly weightBytes: number;
  /** Bytes that do not grow with context (streaming caches, reserved scratch). */
  readonly constantBytes: number;
  readonly bytesPerToken: number;
}

/**
 * Tokens of context that fit in `memoryBytes` after weights and constant bytes:
 * `floor((memory - weights - constant) / bytesPerToken)`, 0 when nothing is left, and `Infinity`
 * when tokens cost nothing (every head streaming).
 */
export function capacityTokens(memoryBytes: number, inputs: CapacityInputs): number {
  if (!Number.isFinite(memoryBytes) || memoryBytes < 0) {
    throw new PolicyError(`memoryBytes must be a non-negative finite number (got ${memoryBytes})`);
  }
  const left = memoryBytes - inputs.weightBytes - inputs.constantBytes;
  if (left < 0) return 0;
  if (inputs.bytesPerToken === 0) return Number.POSITIVE_INFINITY;
  return Math.floor(left / inputs.bytesPerToken);
}

/** Options of {@link planMemory}. */
export interface PlanMemoryOptions {
  /** Default: from `config.torchDtype`; an error when neither is known. */
  readonly weightDtype?: WeightDtype;
  /** Device budget in bytes; when given, capacities are computed. */
  readonly memoryBytes?: number;
}

/** KV numbers of one policy. */
export interface PolicyMemory {
  readonly kind: KvCachePolicy['kind'];
  readonly retrievalKvHeads: number;
  readonly streamingKvHeads: number;
  readonly kvBytesPerToken: number;
  readonly streamingKvBytes: number;
  /** Tokens of context that fit in `memoryBytes`; null when unbounded (no retrieval heads). Absent without `memoryBytes`. */
  readonly capacityTokens?: number | null;
}

/** A memory plan, plain data for JSON output. */
export interface MemoryPlan {
  readonly weightDtype: WeightDtype;
  readonly cacheDtype: KvCacheDtype;
  readonly sinkSize: number;
  readonly recentSize: number;
  readonly parameterCount: number;
  readonly weightBytes: number;
  readonly memoryBytes?: number;
  /** The given policy. */
  readonly policy: PolicyMemory;
  /** Full attention with the same cache dtype, for comparison. */
  readonly full: PolicyMemory;
  /** `policy.kvBytesPerToken / full.kvBytesPerToken`. */
  readonly kvBytesPerTokenRatio: number;
}

/** KV and weight memory of a model under a policy and under full attention, and capacities for a budget. */
export function planMemory(
  config: ModelConfig,
  policy: KvCachePolicy,
  options: PlanMemoryOptions = {},
): MemoryPlan {
  validatePolicyForModel(policy, config);
  const weightDtype = options.weightDtype ?? weightDtypeFromConfig(config);
  if (weightDtype === undefined) {
    throw new PolicyError(
      `weight dtype unknown: pass weightDtype (config torchDtype is ${config.torchDtype ?? 'not set'})`,
    );
  }
  const weights = weightBytes(config, weightDtype);
  const perHead = kvBytesPerTokenHead(policy.cacheDtype, config.headDim);
  const describe = (retrieval: number, streaming: number, kind: KvCachePolicy['kind']): PolicyMemory => {
    const perToken = 2 * retrieval * perHead;
    const constant = 2 * (policy.sinkSize + policy.recentSize) * streaming * perHead;
    const memory: PolicyMemory = {
      kind,
      retrievalKvHeads: retrieval,
      streamingKvHeads: streaming,
      kvBytesPerToken: perToken,
      streamingKvBytes: constant,
    };
    if (options.memoryBytes === undefined) return memory;
    const capacity = capacityTokens(options.memoryBytes, {
      weightBytes: weights,
      constantBytes: constant,
      bytesPerToken: perToken,
    });
    return { ...memory, capacityTokens: Number.isFinite(capacity) ? capacity : null };
  };
  let retrieval = 0;
  let streaming = 0;
  for (const split of policy.layers) {
    retrieval += split.retrievalKvHeads.length;
    streaming += split.streamingKvHeads.length;
  }
  const planned = describe(retrieval, streaming, policy.kind);
  const full = describe(retrieval + streaming, 0, 'full');
  return {
    weightDtype,
    cacheDtype: policy.cacheDtype,
    sinkSize: policy.sinkSize,
    recentSize: policy.recentSize,
    parameterCount: countParameters(config).total,
    weightBytes: weights,
    ...(options.memoryBytes !== undefined && { memoryBytes: options.memoryBytes }),
    policy: planned,
    full,
    kvBytesPerTokenRatio: planned.kvBytesPerToken / full.kvBytesPerToken,
  };
}
