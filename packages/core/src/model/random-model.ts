// Writes a complete HF-style model directory with deterministic random weights, for tests and for
// benchmarks that need a model of a given shape without downloading one. A weight's values depend
// only on the seed, its name and its index, so a reader can recompute what it should have loaded.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 } from '../random.js';
import { expectedTensors } from './load-weights.js';
import type { ModelConfig, RopeConfig } from './model-types.js';
import { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from './safetensors.js';
import { type TensorToWrite, type WritableDtype, writeSafetensors } from './safetensors-writer.js';

/** How {@link writeRandomModel} lays the model out. */
export interface RandomModelOptions {
  /** Checkpoint dtype (default F32). */
  readonly dtype?: WritableDtype;
  /** Seed of the weights (default 0). */
  readonly seed?: number;
  /** Number of safetensors shards; 1 (default) writes a single `model.safetensors`. */
  readonly shards?: number;
  /** config.json RoPE style: transformers 5 `rope_parameters` (default) or old `rope_theta` + `rope_scaling`. */
  readonly configStyle?: 'rope_parameters' | 'rope_scaling';
}

/**
 * Writes `config.json` and safetensors weights for `config` into `dir` (created if needed). Holds
 * one shard's tensors in memory at a time.
 */
export async function writeRandomModel(
  dir: string,
  config: ModelConfig,
  options: RandomModelOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const seed = options.seed ?? 0;
  const shardCount = options.shards ?? 1;
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'config.json'),
    `${JSON.stringify(toHfConfigJson(config, options.configStyle ?? 'rope_parameters'), null, 2)}\n`,
  );

  const tensors = expectedTensors(config);
  if (!Number.isSafeInteger(shardCount) || shardCount < 1 || shardCount > tensors.length) {
    throw new RangeError(`shards must be an integer in [1, ${tensors.length}], got ${shardCount}`);
  }
  const perShard = Math.ceil(tensors.length / shardCount);
  const weightMap: Record<string, string> = {};
  for (let shard = 0; shard < shardCount; shard++) {
    const part = tensors.slice(shard * perShard, (shard + 1) * perShard);
    const file =
      shardCount === 1
        ? SAFETENSORS_FILE
        : `model-${String(shard + 1).padStart(5, '0')}-of-${String(shardCount).padStart(5, '0')}.safetensors`;
    const contents: Record<string, TensorToWrite> = {};
    for (const tensor of part) {
      contents[tensor.name] = {
        dtype,
        shape: tensor.shape,
        data: randomWeight(tensor.name, tensor.shape, seed),
      };
      weightMap[tensor.name] = file;
    }
    await writeSafetensors(join(dir, file), contents, { format: 'pt' });
  }
  if (shardCount > 1) {
    const index = { metadata: { total_size: 0 }, weight_map: weightMap };
    await writeFile(join(dir, SAFETENSORS_INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  }
}

/**
 * The float32 values {@link writeRandomModel} writes for tensor `name` (before narrowing to the
 * checkpoint dtype): norms near 1, biases near 0, matrices uniform in ±1/sqrt(columns).
 */
export function randomWeight(name: string, shape: readonly number[], seed = 0): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  const next = mulberry32(hashString(name) ^ Math.imul(seed | 0, 0x9e3779b1));
  const isNorm = name.endsWith('norm.weight');
  const isBias = name.endsWith('.bias');
  const scale = shape.length === 2 ? 1 / Math.sqrt(shape[1]!) : 0.1;
  for (let i = 0; i < count; i++) {
    const u = next() * 2 - 1;
    out[i] = isNorm ? 1 + 0.1 * u : isBias ? 0.1 * u : scale * u;
  }
  return out;
}

/** config.json contents describing `config`, as transformers would write it, in either RoPE style. */
export function toHfConfigJson(
  config: ModelConfig,
  style: 'rope_parameters' | 'rope_scaling' = 'rope_parameters',
): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: [config.architecture],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    hidden_act: config.hiddenAct,
    rms_norm_eps: config.rmsNormEps,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    bos_token_id: config.bosTokenId ?? null,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : [...config.eosTokenIds],
  };
  if (config.architecture === 'LlamaForCausalLM') {
    json.attention_bias = config.attentionBias;
    json.mlp_bias = config.mlpBias;
  }
  if (config.architecture === 'MistralForCausalLM') json.sliding_window = config.slidingWindow;
  if (config.torchDtype !== undefined) json.dtype = config.torchDtype;
  const parameters = ropeParametersJson(config.rope);
  if (style === 'rope_parameters') {
    json.rope_parameters = { ...parameters, rope_theta: config.rope.theta };
  } else {
    json.rope_theta = config.rope.theta;
    json.rope_scaling = config.rope.type === 'default' ? null : parameters;
  }
  return json;
}

function ropeParametersJson(rope: RopeConfig): Record<string, unknown> {
  const json: Record<string, unknown> = { rope_type: rope.type };
  const keys: Array<[keyof RopeConfig, string]> = [
    ['factor', 'factor'],
    ['lowFreqFactor', 'low_freq_factor'],
    ['highFreqFactor', 'high_freq_factor'],
    ['betaFast', 'beta_fast'],
    ['betaSlow', 'beta_slow'],
    ['attentionFactor', 'attention_factor'],
    ['mscale', 'mscale'],
    ['mscaleAllDim', 'mscale_all_dim'],
    ['truncate', 'truncate'],
  ];
  for (const [ours, theirs] of keys) if (rope[ours] !== undefined) json[theirs] = rope[ours];
  // dynamic's length is max_position_embeddings itself; only llama3/yarn carry their own.
  if ((rope.type === 'llama3' || rope.type === 'yarn') && rope.originalMaxPositionEmbeddings !== undefined) {
    json.original_max_position_embeddings = rope.originalMaxPositionEmbeddings;
  }
  return json;
}

function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
