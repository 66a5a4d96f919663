// Which KvCachePolicy a model runs under: full attention by default, streaming heads only, an
// explicit policy, or DuoAttention from a pattern directory with a sparsity or threshold.
import { fullPolicy, type KvCachePolicy, type ModelConfig, streamingPolicy } from '@duo-attn/core';
import { readPatternPolicy } from '@duo-attn/patterns';
import { LlmOptionError } from './errors.js';

/** Sink and recent tokens of `policy: 'streaming'` without a window: the original's evaluation values. */
export const DEFAULT_STREAMING_WINDOW = { sinkSize: 64, recentSize: 256 } as const;

/** The policy options of {@link loadLanguageModel}. */
export interface PolicyOptions {
  /**
   * A DuoAttention attention-pattern directory (`config.json` + `full_attention_heads.tsv`): its
   * highest gates become retrieval heads. Cannot be combined with `policy`.
   */
  readonly pattern?: string;
  /** With `pattern`: fraction of KV heads made streaming heads, in [0, 1]. Default 0.5. */
  readonly sparsity?: number;
  /** With `pattern`, instead of `sparsity`: retrieval heads are those whose gate is >= this. */
  readonly threshold?: number;
  /** With `pattern` and `sparsity`: seed breaking ties between equal gates. Default 42. */
  readonly patternSeed?: number;
  /** `'full'` (default), `'streaming'` (every head keeps sinks + recent tokens) or a ready policy. */
  readonly policy?: 'full' | 'streaming' | KvCachePolicy;
  /** Streaming heads' attention sinks. Default: the pattern's, or 64 for `'streaming'`. */
  readonly sinkSize?: number;
  /** Streaming heads' recent tokens. Default: the pattern's, or 256 for `'streaming'`. */
  readonly recentSize?: number;
}

/** A policy and one line saying what it is. */
export interface ResolvedPolicy {
  readonly policy: KvCachePolicy;
  readonly description: string;
}

/** Builds the policy `options` ask for, checked against `config`. */
export async function resolvePolicy(options: PolicyOptions, config: ModelConfig): Promise<ResolvedPolicy> {
  const shape = { numLayers: config.numLayers, numKvHeads: config.numKvHeads };
  const window = {
    ...(options.sinkSize !== undefined ? { sinkSize: options.sinkSize } : {}),
    ...(options.recentSize !== undefined ? { recentSize: options.recentSize } : {}),
  };
  if (options.pattern !== undefined) {
    if (options.policy !== undefined) throw new LlmOptionError('give pattern or policy, not both');
    const result = await readPatternPolicy(options.pattern, config, {
      ...(options.sparsity !== undefined ? { sparsity: options.sparsity } : {}),
      ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
      ...(options.patternSeed !== undefined ? { seed: options.patternSeed } : {}),
      ...window,
    });
    return { policy: result.policy, description: result.description };
  }
  for (const name of ['sparsity', 'threshold', 'patternSeed'] as const) {
    if (options[name] !== undefined) throw new LlmOptionError(`${name} needs a pattern directory (pattern)`);
  }
  const policy = options.policy ?? 'full';
  if (typeof policy === 'object') {
    if (options.sinkSize !== undefined || options.recentSize !== undefined) {
      throw new LlmOptionError('sinkSize/recentSize come from the given policy; do not pass them too');
    }
    return { policy, description: `${policy.kind} policy (given)` };
  }
  if (policy === 'full') {
    if (options.sinkSize !== undefined || options.recentSize !== undefined) {
      throw new LlmOptionError('sinkSize/recentSize do not apply to full attention');
    }
    return { policy: fullPolicy(shape), description: 'full attention' };
  }
  if (policy !== 'streaming') {
    throw new LlmOptionError(
      `policy must be 'full', 'streaming' or a KvCachePolicy (use pattern for DuoAttention), got ${String(policy)}`,
    );
  }
  const sinkSize = options.sinkSize ?? DEFAULT_STREAMING_WINDOW.sinkSize;
  const recentSize = options.recentSize ?? DEFAULT_STREAMING_WINDOW.recentSize;
  if (sinkSize + recentSize > config.maxPositionEmbeddings) {
    throw new LlmOptionError(
      `sink ${sinkSize} + recent ${recentSize} = ${sinkSize + recentSize} exceeds the model's context of ${config.maxPositionEmbeddings} tokens`,
    );
  }
  return {
    policy: streamingPolicy(shape, { sinkSize, recentSize }),
    description: `streaming heads only, sink ${sinkSize}, recent ${recentSize}`,
  };
}
