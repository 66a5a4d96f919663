// What a pattern and its mask mean for memory: retrieval heads per layer and KV-cache bytes per
// token of context, relative to full attention.
import { KV_CACHE_DTYPES, type KvCacheDtype, kvBytesPerTokenHead } from '@duo-attn/core';
import { PatternOptionError } from './errors.js';
import type { Matrix } from './pattern.js';

/** KV-cache element types (core's `KvCacheDtype`). `int4`: 4-bit codes, fp16 scale and zero per (token, KV head). */
export type KvDtype = KvCacheDtype;
export const KV_DTYPES: readonly KvDtype[] = KV_CACHE_DTYPES;

/** Pattern statistics under a given mask. */
export interface PatternStatistics {
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly dtype: KvDtype;
  /** Retrieval KV heads per layer. */
  readonly retrievalHeadsPerLayer: readonly number[];
  readonly retrievalHeads: number;
  /** retrievalHeads / (numLayers * numKvHeads). */
  readonly retrievalRatio: number;
  /** Mean of the clipped gates. */
  readonly meanAlpha: number;
  /** K+V bytes per token of context with every head a retrieval head. */
  readonly fullKvBytesPerToken: number;
  /** K+V bytes per token of context under the mask (retrieval heads only). */
  readonly policyKvBytesPerToken: number;
  /** policyKvBytesPerToken / fullKvBytesPerToken. */
  readonly relativeKvBytesPerToken: number;
  /** Constant K+V bytes of the streaming heads' sink + recent windows, whatever the context. */
  readonly streamingKvBytes: number;
}

/** Computes {@link PatternStatistics} for gates `alpha` binarised as `mask`. */
export function patternStatistics(
  alpha: Matrix,
  mask: Matrix,
  options: { headDim?: number; dtype?: KvDtype; sinkSize: number; recentSize: number },
): PatternStatistics {
  const headDim = options.headDim ?? 128;
  const dtype = options.dtype ?? 'bf16';
  if (!Number.isInteger(headDim) || headDim <= 0 || (dtype === 'int4' && headDim % 2 !== 0)) {
    throw new PatternOptionError(
      `head dim must be a positive${dtype === 'int4' ? ' even' : ''} integer, got ${headDim}`,
    );
  }
  if (!KV_DTYPES.includes(dtype))
    throw new PatternOptionError(`unknown KV dtype "${dtype}" (use ${KV_DTYPES.join(', ')})`);
  const numLayers = mask.length;
  const numKvHeads = mask[0]?.length ?? 0;
  const retrievalHeadsPerLayer = mask.map((row) => row.filter((flag) => flag > 0.5).length);
  const retrievalHeads = retrievalHeadsPerLayer.reduce((a, b) => a + b, 0);
  const totalHeads = numLayers * numKvHeads;
  // The byte arithmetic is core's memory planner's, so the CLI and backends agree.
  const perHead = 2 * kvBytesPerTokenHead(dtype, headDim);
  const gates = alpha.flat();
  return {
    numLayers,
    numKvHeads,
    headDim,
    dtype,
    retrievalHeadsPerLayer,
    retrievalHeads,
    retrievalRatio: retrievalHeads / totalHeads,
    meanAlpha: gates.reduce((a, b) => a + Math.min(1, Math.max(0, b)), 0) / gates.length,
    fullKvBytesPerToken: totalHeads * perHead,
    policyKvBytesPerToken: retrievalHeads * perHead,
    relativeKvBytesPerToken: retrievalHeads / totalHeads,
    streamingKvBytes: (totalHeads - retrievalHeads) * (options.sinkSize + options.recentSize) * perHead,
  };
}
