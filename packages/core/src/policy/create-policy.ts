// Builds and validates KvCachePolicy values. Full attention, StreamingLLM and DuoAttention masks all
// become the same structure here, so every backend runs one code path (DESIGN §2).
import type { ModelConfig } from '../model/model-types.js';
import type { KvCacheDtype, KvCachePolicy, LayerHeadSplit } from './kv-cache-policy.js';
import { PolicyError } from './policy-error.js';

/** The two numbers of a model a policy must agree with. */
export interface PolicyShape {
  readonly numLayers: number;
  readonly numKvHeads: number;
}

/** Options of {@link fullPolicy}. Sink and recent sizes are irrelevant to full attention; default 0. */
export interface FullPolicyOptions {
  readonly sinkSize?: number;
  readonly recentSize?: number;
  /** Default `fp32`. */
  readonly cacheDtype?: KvCacheDtype;
}

/** Sink/recent sizes and cache dtype of a policy that has streaming heads. */
export interface StreamingOptions {
  /** S: first tokens a streaming head keeps. */
  readonly sinkSize: number;
  /** R: most recent tokens a streaming head keeps. */
  readonly recentSize: number;
  /** Default `fp32`. */
  readonly cacheDtype?: KvCacheDtype;
}

/** Every cache dtype a policy may name. */
export const KV_CACHE_DTYPES: readonly KvCacheDtype[] = ['fp32', 'bf16', 'fp16', 'int4'];

/** A policy where every KV head of every layer keeps its full cache (plain attention). */
export function fullPolicy(shape: PolicyShape, options: FullPolicyOptions = {}): KvCachePolicy {
  return buildPolicy(
    'full',
    shape,
    () => true,
    options.sinkSize ?? 0,
    options.recentSize ?? 0,
    options.cacheDtype,
  );
}

/** A policy where every KV head keeps only S sink + R recent tokens (StreamingLLM-like). */
export function streamingPolicy(shape: PolicyShape, options: StreamingOptions): KvCachePolicy {
  return buildPolicy(
    'streaming',
    shape,
    () => false,
    options.sinkSize,
    options.recentSize,
    options.cacheDtype,
  );
}

/**
 * A policy from a `[numLayers][numKvHeads]` mask (1 = retrieval head; values > 0.5 count as 1, so
 * a float pattern may be passed directly). Kind is `full` when every head is retrieval,
 * `streaming` when none is, else `duo`.
 */
export function policyFromMask(
  mask: readonly (readonly number[])[],
  options: StreamingOptions,
): KvCachePolicy {
  if (!Array.isArray(mask) || mask.length === 0) {
    throw new PolicyError('mask must have at least one layer (got an empty mask)');
  }
  const first = mask[0];
  const numKvHeads = first?.length ?? 0;
  if (numKvHeads === 0) throw new PolicyError('mask layer 0 has no KV heads');
  mask.forEach((row, layer) => {
    if (!Array.isArray(row) || row.length !== numKvHeads) {
      throw new PolicyError(
        `mask layer ${layer} has ${Array.isArray(row) ? row.length : 'no'} KV heads; layer 0 has ${numKvHeads}`,
      );
    }
    row.forEach((value, head) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new PolicyError(
          `mask value at layer ${layer}, KV head ${head} is not a finite number: ${value}`,
        );
      }
    });
  });
  let retrieval = 0;
  for (const row of mask) for (const value of row) if (value > 0.5) retrieval += 1;
  const total = mask.length * numKvHeads;
  const kind = retrieval === total ? 'full' : retrieval === 0 ? 'streaming' : 'duo';
  return buildPolicy(
    kind,
    { numLayers: mask.length, numKvHeads },
    (layer, head) => (mask[layer]?.[head] ?? 0) > 0.5,
    options.sinkSize,
    options.recentSize,
    options.cacheDtype,
  );
}

function buildPolicy(
  kind: KvCachePolicy['kind'],
  shape: PolicyShape,
  isRetrieval: (layer: number, head: number) => boolean,
  sinkSize: number,
  recentSize: number,
  cacheDtype: KvCacheDtype | undefined,
): KvCachePolicy {
  checkShape(shape);
  const layers: LayerHeadSplit[] = [];
  for (let layer = 0; layer < shape.numLayers; layer++) {
    const retrievalKvHeads: number[] = [];
    const streamingKvHeads: number[] = [];
    for (let head = 0; head < shape.numKvHeads; head++) {
      (isRetrieval(layer, head) ? retrievalKvHeads : streamingKvHeads).push(head);
    }
    layers.push({ retrievalKvHeads, streamingKvHeads });
  }
  const policy: KvCachePolicy = {
    kind,
    numLayers: shape.numLayers,
    numKvHeads: shape.numKvHeads,
    layers,
    sinkSize,
    recentSize,
    cacheDtype: cacheDtype ?? 'fp32',
  };
  validatePolicy(policy);
  return policy;
}

function checkShape(shape: PolicyShape): void {
  if (!Number.isInteger(shape.numLayers) || shape.numLayers <= 0) {
    throw new PolicyError(`numLayers must be a positive integer (got ${shape.numLayers})`);
  }
  if (!Number.isInteger(shape.numKvHeads) || shape.numKvHeads <= 0) {
    throw new PolicyError(`numKvHeads must be a positive integer (got ${shape.numKvHeads})`);
  }
}

/**
 * Checks a policy's internal consistency: each layer's retrieval and streaming lists partition
 * `0..numKvHeads-1` and are ascending, `kind` agrees with the split, S and R are non-negative
 * integers, and S + R > 0 when any streaming head exists. Throws {@link PolicyError}.
 */
export function validatePolicy(policy: KvCachePolicy): void {
  checkShape(policy);
  if (!['full', 'streaming', 'duo'].includes(policy.kind)) {
    throw new PolicyError(`policy kind must be full, streaming or duo (got ${String(policy.kind)})`);
  }
  for (const [name, value] of [
    ['sinkSize', policy.sinkSize],
    ['recentSize', policy.recentSize],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) {
      throw new PolicyError(`${name} must be a non-negative integer (got ${value})`);
    }
  }
  if (!KV_CACHE_DTYPES.includes(policy.cacheDtype)) {
    throw new PolicyError(
      `cacheDtype must be one of ${KV_CACHE_DTYPES.join(', ')} (got ${String(policy.cacheDtype)})`,
    );
  }
  if (!Array.isArray(policy.layers) || policy.layers.length !== policy.numLayers) {
    throw new PolicyError(
      `policy has ${policy.layers?.length ?? 'no'} layer splits but numLayers is ${policy.numLayers}`,
    );
  }
  let retrieval = 0;
  let streaming = 0;
  policy.layers.forEach((split, layer) => {
    const seen = new Array<boolean>(policy.numKvHeads).fill(false);
    for (const [name, list] of [
      ['retrievalKvHeads', split.retrievalKvHeads],
      ['streamingKvHeads', split.streamingKvHeads],
    ] as const) {
      let previous = -1;
      for (const head of list) {
        if (!Number.isInteger(head) || head < 0 || head >= policy.numKvHeads) {
          throw new PolicyError(
            `layer ${layer} ${name} contains ${head}, outside 0..${policy.numKvHeads - 1}`,
          );
        }
        if (head <= previous) throw new PolicyError(`layer ${layer} ${name} is not strictly ascending`);
        if (seen[head])
          throw new PolicyError(`layer ${layer} lists KV head ${head} as both retrieval and streaming`);
        seen[head] = true;
        previous = head;
      }
    }
    const missing = seen.indexOf(false);
    if (missing >= 0) throw new PolicyError(`layer ${layer} does not classify KV head ${missing}`);
    retrieval += split.retrievalKvHeads.length;
    streaming += split.streamingKvHeads.length;
  });
  if (policy.kind === 'full' && streaming > 0) {
    throw new PolicyError(`policy kind is full but ${streaming} KV heads are streaming`);
  }
  if (policy.kind === 'streaming' && retrieval > 0) {
    throw new PolicyError(`policy kind is streaming but ${retrieval} KV heads are retrieval`);
  }
  if (streaming > 0 && policy.sinkSize + policy.recentSize === 0) {
    throw new PolicyError(
      `policy has ${streaming} streaming KV heads but sinkSize + recentSize is 0: they would see only the current chunk`,
    );
  }
}

/**
 * Checks a policy and that it fits the model: its shape (`numLayers`, `numKvHeads`) and, when the
 * config gives the context, a streaming window (S + R) no longer than the context (a larger window
 * would never drop a token, and would only allocate memory). Throws {@link PolicyError}.
 */
export function validatePolicyForModel(
  policy: KvCachePolicy,
  config: Pick<ModelConfig, 'numLayers' | 'numKvHeads'> & Partial<Pick<ModelConfig, 'maxPositionEmbeddings'>>,
): void {
  validatePolicy(policy);
  const context = config.maxPositionEmbeddings;
  const streaming = policy.layers.reduce((sum, split) => sum + split.streamingKvHeads.length, 0);
  if (context !== undefined && streaming > 0 && policy.sinkSize + policy.recentSize > context) {
    throw new PolicyError(
      `sinkSize ${policy.sinkSize} + recentSize ${policy.recentSize} = ${policy.sinkSize + policy.recentSize} ` +
        `exceeds the model's context of ${context} tokens (max_position_embeddings): streaming heads would never drop a token`,
    );
  }
  if (policy.numLayers !== config.numLayers) {
    throw new PolicyError(`policy has ${policy.numLayers} layers but the model has ${config.numLayers}`);
  }
  if (policy.numKvHeads !== config.numKvHeads) {
    throw new PolicyError(
      `policy has ${policy.numKvHeads} KV heads per layer but the model has ${config.numKvHeads}`,
    );
  }
}

/** Retrieval KV heads of one layer. */
export function numRetrievalKvHeads(policy: KvCachePolicy, layer: number): number {
  return policy.layers[layer]?.retrievalKvHeads.length ?? 0;
}

/** Streaming KV heads of one layer. */
export function numStreamingKvHeads(policy: KvCachePolicy, layer: number): number {
  return policy.layers[layer]?.streamingKvHeads.length ?? 0;
}

/** The policy as a `[numLayers][numKvHeads]` 0/1 mask in original head order (1 = retrieval). */
export function policyToMask(policy: KvCachePolicy): number[][] {
  return policy.layers.map((split) => {
    const row = new Array<number>(policy.numKvHeads).fill(0);
    for (const head of split.retrievalKvHeads) row[head] = 1;
    return row;
  });
}
