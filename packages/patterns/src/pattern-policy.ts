// From an attention pattern to core's KvCachePolicy: binarise the gates (by sparsity or threshold)
// and keep the pattern's sink/recent window unless told otherwise. The library entry point, the CLI
// and the server all turn `pattern` + `sparsity` into a policy here.
import type { KvCachePolicy } from '@duo-attn/core';
import { policyFromMask } from '@duo-attn/core';
import { PatternOptionError } from './errors.js';
import type { AttentionPattern } from './pattern.js';
import { readPattern } from './pattern-directory.js';
import { sparsify } from './sparsify.js';

/** Sparsity (fraction of streaming heads) used when neither sparsity nor threshold is given. */
export const DEFAULT_PATTERN_SPARSITY = 0.5;

/** The model facts a pattern policy is checked against. */
export interface PatternPolicyModel {
  readonly numLayers: number;
  readonly numKvHeads: number;
  /** The window (sink + recent) must fit in this many positions. */
  readonly maxPositionEmbeddings: number;
}

/** How to turn gates into a policy. Give at most one of `sparsity` and `threshold`. */
export interface PatternPolicyOptions {
  /** Fraction of KV heads that become streaming heads, in [0, 1]. Default {@link DEFAULT_PATTERN_SPARSITY}. */
  readonly sparsity?: number;
  /** Keep every head whose gate is >= this, in [0, 1], instead of a sparsity. */
  readonly threshold?: number;
  /** Seed breaking ties between equal gates (sparsity only). Default 42, as the original. */
  readonly seed?: number;
  /** Streaming heads' attention sinks. Default: the pattern's `sink_size`. */
  readonly sinkSize?: number;
  /** Streaming heads' recent tokens. Default: the pattern's `recent_size`. */
  readonly recentSize?: number;
}

/** A DuoAttention policy and how it was obtained. */
export interface PatternPolicy {
  readonly policy: KvCachePolicy;
  /** Retrieval KV heads kept, out of `numLayers * numKvHeads`. */
  readonly retrievalHeads: number;
  readonly totalHeads: number;
  readonly sinkSize: number;
  readonly recentSize: number;
  /** One line for logs, e.g. `DuoAttention: 6 of 24 KV heads retrieval (sparsity 0.75), sink 16, recent 64`. */
  readonly description: string;
}

/**
 * The policy of `pattern` for a model of shape `model`.
 *
 * @throws PatternShapeError when the pattern's shape differs from the model's; PatternOptionError
 *   naming the option for a bad sparsity, threshold, seed or window (sink + recent beyond the context).
 */
export function policyFromPattern(
  pattern: AttentionPattern,
  model: PatternPolicyModel,
  options: PatternPolicyOptions = {},
): PatternPolicy {
  const { sparsity, threshold, seed } = options;
  if (sparsity !== undefined && threshold !== undefined) {
    throw new PatternOptionError('give sparsity or threshold, not both');
  }
  if (threshold !== undefined && seed !== undefined) {
    throw new PatternOptionError('seed only applies with sparsity (it breaks ties between equal gates)');
  }
  for (const [name, value] of [
    ['sparsity', sparsity],
    ['threshold', threshold],
  ] as const) {
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= 1)) {
      throw new PatternOptionError(`${name} must be a number in [0, 1], got ${String(value)}`);
    }
  }
  if (
    pattern.alpha.length !== model.numLayers ||
    pattern.alpha.some((row) => row.length !== model.numKvHeads)
  ) {
    throw new PatternOptionError(
      `the pattern has ${pattern.alpha.length} layers x ${pattern.alpha[0]?.length ?? 0} KV heads; ` +
        `the model has ${model.numLayers} x ${model.numKvHeads}`,
    );
  }
  const sinkSize = windowSize(options.sinkSize, pattern.sinkSize, 'sinkSize');
  const recentSize = windowSize(options.recentSize, pattern.recentSize, 'recentSize');
  if (sinkSize + recentSize > model.maxPositionEmbeddings) {
    const from =
      options.sinkSize === undefined && options.recentSize === undefined
        ? "the pattern's config.json gives "
        : '';
    throw new PatternOptionError(
      `${from}sink ${sinkSize} + recent ${recentSize} = ${sinkSize + recentSize} exceeds the model's context of ` +
        `${model.maxPositionEmbeddings} tokens; give a smaller sinkSize/recentSize`,
    );
  }
  const binarised =
    threshold !== undefined
      ? sparsify(pattern.alpha, { threshold })
      : sparsify(pattern.alpha, {
          sparsity: sparsity ?? DEFAULT_PATTERN_SPARSITY,
          ...(seed !== undefined ? { seed } : {}),
        });
  const totalHeads = model.numLayers * model.numKvHeads;
  const how =
    threshold !== undefined ? `threshold ${threshold}` : `sparsity ${sparsity ?? DEFAULT_PATTERN_SPARSITY}`;
  return {
    policy: policyFromMask(binarised.mask, { sinkSize, recentSize }),
    retrievalHeads: binarised.retrievalHeads,
    totalHeads,
    sinkSize,
    recentSize,
    description: `DuoAttention: ${binarised.retrievalHeads} of ${totalHeads} KV heads retrieval (${how}), sink ${sinkSize}, recent ${recentSize}`,
  };
}

/** Reads the pattern directory `directory` and returns its policy (see {@link policyFromPattern}). */
export async function readPatternPolicy(
  directory: string,
  model: PatternPolicyModel,
  options: PatternPolicyOptions = {},
): Promise<PatternPolicy> {
  const pattern = await readPattern(directory, { numLayers: model.numLayers, numKvHeads: model.numKvHeads });
  return policyFromPattern(pattern, model, options);
}

function windowSize(given: number | undefined, fromPattern: number, name: string): number {
  if (given === undefined) return fromPattern;
  if (!(Number.isSafeInteger(given) && given >= 0)) {
    throw new PatternOptionError(`${name} must be an integer >= 0, got ${String(given)}`);
  }
  return given;
}
