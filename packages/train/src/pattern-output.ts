// The result of a run as an attention-pattern directory the original can read: config.json with the
// original's argparse keys (our own settings added under keys it ignores) and
// full_attention_heads.tsv with one gate per KV head in numpy's `%.18e` format.
import { type AttentionPattern, createPattern, writePattern } from '@duo-attn/patterns';

/** The run settings recorded in config.json, in the original's terms where it has them. */
export interface TrainedPatternConfig {
  readonly modelName: string;
  readonly sinkSize: number;
  readonly recentSize: number;
  readonly lr: number;
  readonly numSteps: number;
  readonly regWeight: number;
  readonly initialValue: number;
  readonly maxLength: number;
  readonly minContext: number;
  readonly maxContext: number;
  readonly contextIntervals: number;
  readonly depthIntervals: number;
  readonly minDepth: number;
  readonly maxDepth: number;
  readonly numPasskeys: number;
  readonly seed: number;
  readonly checkpointEvery: number;
  readonly mask: 'token' | 'block';
  readonly blockSize?: number;
  readonly templates: string;
  readonly backend: string;
  readonly dataset: string;
}

/** The pattern a finished run writes (gates clamped into [0, 1], unlike the original's last step). */
export function trainedPattern(
  gates: ArrayLike<number>,
  numLayers: number,
  numKvHeads: number,
  settings: TrainedPatternConfig,
): AttentionPattern {
  const alpha = Array.from({ length: numLayers }, (_, l) =>
    Array.from({ length: numKvHeads }, (_, h) => Math.min(1, Math.max(0, gates[l * numKvHeads + h]!))),
  );
  return createPattern({
    alpha,
    sinkSize: settings.sinkSize,
    recentSize: settings.recentSize,
    config: {
      model_name: settings.modelName,
      dataset_name: settings.dataset,
      dataset_format: 'multiple_passkey',
      lr: settings.lr,
      num_steps: settings.numSteps,
      batch_size: 1,
      max_length: settings.maxLength,
      context_length_min: settings.minContext,
      context_length_max: settings.maxContext,
      context_lengths_num_intervals: settings.contextIntervals,
      depth_ratio_num_intervals: settings.depthIntervals,
      num_passkeys: settings.numPasskeys,
      sink_size: settings.sinkSize,
      recent_size: settings.recentSize,
      reg_weight: settings.regWeight,
      initial_value: settings.initialValue,
      min_needle_depth_ratio: settings.minDepth,
      max_needle_depth_ratio: settings.maxDepth,
      save_steps: settings.checkpointEvery,
      gradient_accumulation_steps: 1,
      streaming_attn_implementation: settings.mask === 'block' ? 'blocksparse' : 'token',
      supervision: 'distill',
      seed: settings.seed,
      trainer: 'duo-attn',
      trainer_backend: settings.backend,
      passkey_templates: settings.templates,
      ...(settings.mask === 'block' ? { block_size: settings.blockSize ?? 128 } : {}),
    },
  });
}

/** Writes the trained pattern to `directory` atomically (both files or neither). */
export async function writeTrainedPattern(
  directory: string,
  gates: ArrayLike<number>,
  numLayers: number,
  numKvHeads: number,
  settings: TrainedPatternConfig,
): Promise<AttentionPattern> {
  const pattern = trainedPattern(gates, numLayers, numKvHeads, settings);
  await writePattern(directory, pattern);
  return pattern;
}
