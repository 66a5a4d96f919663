// The policy options every model command shares: `--pattern DIR` with `--sparsity S` or
// `--threshold T` (default sparsity 0.5), `--sink N`/`--recent N` (default: the pattern's config),
// or `--policy full|streaming`. Turns them into core's KvCachePolicy for a given model.
import {
  fullPolicy,
  type KvCachePolicy,
  type ModelConfig,
  policyFromMask,
  streamingPolicy,
} from '@duo-attn/core';
import { readPattern, sparsify } from '@duo-attn/patterns';
import { numberOption, type OptionSpec, type ParsedArgs, stringOption, UsageError } from './cli-args.js';

export const POLICY_OPTIONS: OptionSpec = {
  policy: { type: 'string' },
  pattern: { type: 'string' },
  sparsity: { type: 'string' },
  threshold: { type: 'string' },
  'pattern-seed': { type: 'string' },
  sink: { type: 'string' },
  recent: { type: 'string' },
};

export const POLICY_USAGE = `Policy options:
  --policy full|streaming     full attention (default) or streaming heads only (StreamingLLM-like)
  --pattern DIR               DuoAttention: retrieval heads from an attention-pattern directory,
    --sparsity S | --threshold T   binarised by sparsity (default 0.5) or threshold;
    --pattern-seed N               ties between equal gates broken with this seed (default 42)
  --sink N --recent N         streaming heads' sink and recent tokens (default: the pattern's config;
                              64 and 256 for --policy streaming)
`;

/** Default sink/recent for `--policy streaming` without a pattern: the original's evaluation values. */
export const DEFAULT_STREAMING_WINDOW = { sinkSize: 64, recentSize: 256 } as const;

/** A policy and a one-line description of where it came from. */
export interface ResolvedPolicy {
  readonly policy: KvCachePolicy;
  readonly description: string;
}

/** Builds the policy the options ask for, checked against `config`. */
export async function policyFromArgs(args: ParsedArgs, config: ModelConfig): Promise<ResolvedPolicy> {
  const kind = stringOption(args, 'policy');
  const patternDir = stringOption(args, 'pattern');
  const sparsity = numberOption(args, 'sparsity');
  const threshold = numberOption(args, 'threshold');
  const seed = numberOption(args, 'pattern-seed', { integer: true, min: 0, max: 0xffffffff });
  const sink = numberOption(args, 'sink', { integer: true, min: 0 });
  const recent = numberOption(args, 'recent', { integer: true, min: 0 });
  const shape = { numLayers: config.numLayers, numKvHeads: config.numKvHeads };

  if (patternDir === undefined && (sparsity !== undefined || threshold !== undefined || seed !== undefined)) {
    throw new UsageError('--sparsity, --threshold and --pattern-seed need --pattern DIR');
  }
  if (patternDir !== undefined) {
    if (kind !== undefined) throw new UsageError('give --pattern or --policy, not both');
    if (sparsity !== undefined && threshold !== undefined)
      throw new UsageError('give --sparsity or --threshold, not both');
    if (threshold !== undefined && seed !== undefined)
      throw new UsageError('--pattern-seed only applies with --sparsity');
    const pattern = await readPattern(patternDir, shape);
    const options =
      threshold !== undefined
        ? { threshold }
        : { sparsity: sparsity ?? 0.5, ...(seed !== undefined ? { seed } : {}) };
    const { mask, retrievalHeads } = sparsify(pattern.alpha, options);
    const sinkSize = sink ?? pattern.sinkSize;
    const recentSize = recent ?? pattern.recentSize;
    const how = threshold !== undefined ? `threshold ${threshold}` : `sparsity ${sparsity ?? 0.5}`;
    return {
      policy: policyFromMask(mask, { sinkSize, recentSize }),
      description: `DuoAttention: ${retrievalHeads} of ${config.numLayers * config.numKvHeads} KV heads retrieval (${how}), sink ${sinkSize}, recent ${recentSize}`,
    };
  }
  switch (kind ?? 'full') {
    case 'full':
      if (sink !== undefined || recent !== undefined)
        throw new UsageError('--sink/--recent do not apply to full attention');
      return { policy: fullPolicy(shape), description: 'full attention' };
    case 'streaming': {
      const sinkSize = sink ?? DEFAULT_STREAMING_WINDOW.sinkSize;
      const recentSize = recent ?? DEFAULT_STREAMING_WINDOW.recentSize;
      return {
        policy: streamingPolicy(shape, { sinkSize, recentSize }),
        description: `streaming heads only, sink ${sinkSize}, recent ${recentSize}`,
      };
    }
    default:
      throw new UsageError(
        `--policy must be full or streaming (use --pattern DIR for DuoAttention), got "${kind}"`,
      );
  }
}
