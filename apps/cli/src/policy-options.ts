// The policy options every model command shares: `--pattern DIR` with `--sparsity S` or
// `--threshold T` (default sparsity 0.5), `--sink N`/`--recent N` (default: the pattern's config),
// or `--policy full|streaming`. Turns them into core's KvCachePolicy for a given model.
import { fullPolicy, type KvCachePolicy, type ModelConfig, streamingPolicy } from '@duo-attn/core';
import { DEFAULT_STREAMING_WINDOW } from '@duo-attn/llm';
import {
  DEFAULT_PATTERN_SPARSITY,
  DEFAULT_SPARSIFY_SEED,
  policyFromPattern,
  readPattern,
} from '@duo-attn/patterns';
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
    --sparsity S | --threshold T   binarised by sparsity (default ${DEFAULT_PATTERN_SPARSITY}) or threshold;
    --pattern-seed N               ties between equal gates broken with this seed (default ${DEFAULT_SPARSIFY_SEED})
  --sink N --recent N         streaming heads' sink and recent tokens (default: the pattern's config;
                              ${DEFAULT_STREAMING_WINDOW.sinkSize} and ${DEFAULT_STREAMING_WINDOW.recentSize} for --policy streaming)
`;

export { DEFAULT_STREAMING_WINDOW };

/** A policy, its short name (full, streaming, duo) and a one-line description of where it came from. */
export interface ResolvedPolicy {
  readonly name: 'full' | 'streaming' | 'duo';
  readonly policy: KvCachePolicy;
  readonly description: string;
}

/** Builds the policy the options ask for (`--policy full|streaming` or `--pattern`), checked against `config`. */
export async function policyFromArgs(args: ParsedArgs, config: ModelConfig): Promise<ResolvedPolicy> {
  const kind = stringOption(args, 'policy');
  if (stringOption(args, 'pattern') !== undefined) {
    if (kind !== undefined) throw new UsageError('give --pattern or --policy, not both');
    return buildPolicy('duo', args, config);
  }
  checkPatternOptionsUnused(args);
  if (kind !== undefined && kind !== 'full' && kind !== 'streaming') {
    throw new UsageError(
      `--policy must be full or streaming (use --pattern DIR for DuoAttention), got "${kind}"`,
    );
  }
  return buildPolicy(kind ?? 'full', args, config);
}

/**
 * Several policies for one comparison run: every `--policy full|streaming|duo` (repeatable; `duo`
 * needs --pattern), plus `duo` when --pattern is given without it. Default: full attention.
 */
export async function policiesFromArgs(args: ParsedArgs, config: ModelConfig): Promise<ResolvedPolicy[]> {
  const raw = args.values.policy;
  const kinds = [...new Set(Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [])];
  for (const kind of kinds) {
    if (kind !== 'full' && kind !== 'streaming' && kind !== 'duo') {
      throw new UsageError(`--policy must be full, streaming or duo, got "${kind}"`);
    }
  }
  const hasPattern = stringOption(args, 'pattern') !== undefined;
  if (kinds.includes('duo') && !hasPattern) throw new UsageError('--policy duo needs --pattern DIR');
  if (hasPattern && !kinds.includes('duo')) kinds.push('duo');
  if (!hasPattern) checkPatternOptionsUnused(args);
  if (kinds.length === 0) kinds.push('full');
  return Promise.all(kinds.map((kind) => buildPolicy(kind as 'full' | 'streaming' | 'duo', args, config)));
}

function checkPatternOptionsUnused(args: ParsedArgs): void {
  for (const name of ['sparsity', 'threshold', 'pattern-seed']) {
    if (args.values[name] !== undefined)
      throw new UsageError('--sparsity, --threshold and --pattern-seed need --pattern DIR');
  }
}

async function buildPolicy(
  kind: 'full' | 'streaming' | 'duo',
  args: ParsedArgs,
  config: ModelConfig,
): Promise<ResolvedPolicy> {
  // The window must fit the model's context: a larger one never drops a token and only costs memory.
  const context = config.maxPositionEmbeddings;
  const sink = numberOption(args, 'sink', { integer: true, min: 0, max: context });
  const recent = numberOption(args, 'recent', { integer: true, min: 0, max: context });
  const shape = { numLayers: config.numLayers, numKvHeads: config.numKvHeads };
  if (kind === 'duo') {
    // Sparsity is a fraction of heads; gates are clipped to [0, 1], so thresholds live there too.
    const sparsity = numberOption(args, 'sparsity', { min: 0, max: 1 });
    const threshold = numberOption(args, 'threshold', { min: 0, max: 1 });
    const seed = numberOption(args, 'pattern-seed', { integer: true, min: 0, max: 0xffffffff });
    if (sparsity !== undefined && threshold !== undefined)
      throw new UsageError('give --sparsity or --threshold, not both');
    if (threshold !== undefined && seed !== undefined)
      throw new UsageError('--pattern-seed only applies with --sparsity');
    const pattern = await readPattern(stringOption(args, 'pattern')!, shape);
    const sinkSize = sink ?? pattern.sinkSize;
    const recentSize = recent ?? pattern.recentSize;
    checkWindow(
      sinkSize,
      recentSize,
      context,
      sink === undefined && recent === undefined ? 'pattern' : 'given',
    );
    const { policy, description } = policyFromPattern(pattern, config, {
      ...(threshold !== undefined ? { threshold } : { sparsity: sparsity ?? DEFAULT_PATTERN_SPARSITY }),
      ...(seed !== undefined ? { seed } : {}),
      sinkSize,
      recentSize,
    });
    return { name: 'duo', policy, description };
  }
  if (kind === 'full') {
    if (sink !== undefined || recent !== undefined) {
      if (args.values.policy === 'full' || args.values.policy === undefined) {
        throw new UsageError('--sink/--recent do not apply to full attention');
      }
    }
    return { name: 'full', policy: fullPolicy(shape), description: 'full attention' };
  }
  const sinkSize = sink ?? DEFAULT_STREAMING_WINDOW.sinkSize;
  const recentSize = recent ?? DEFAULT_STREAMING_WINDOW.recentSize;
  checkWindow(
    sinkSize,
    recentSize,
    context,
    sink === undefined && recent === undefined ? 'default' : 'given',
  );
  return {
    name: 'streaming',
    policy: streamingPolicy(shape, { sinkSize, recentSize }),
    description: `streaming heads only, sink ${sinkSize}, recent ${recentSize}`,
  };
}

/** S + R must fit the model's context; `source` says where the values came from, for the message. */
function checkWindow(
  sink: number,
  recent: number,
  context: number,
  source: 'given' | 'pattern' | 'default',
): void {
  if (sink + recent <= context) return;
  const window = `sink ${sink} + recent ${recent} = ${sink + recent}`;
  const from =
    source === 'pattern'
      ? `the pattern's config.json gives ${window}, which`
      : source === 'default'
        ? `the default streaming window (${window})`
        : `--sink ${sink} + --recent ${recent} = ${sink + recent}`;
  throw new UsageError(
    `${from} exceeds the model's context of ${context} tokens${source === 'given' ? '' : '; give --sink and --recent'}`,
  );
}
