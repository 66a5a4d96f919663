// Reads a Hugging Face config.json into our ModelConfig. The defaults and quirks follow transformers 5
// (LlamaConfig, MistralConfig, Qwen2Config and the RoPE standardisation in modeling_rope_utils.py), so
// a model loads here exactly when, and as, it loads in transformers — or fails with a typed error.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ConfigObject,
  configObject,
  describe,
  invalid,
  isJsonObject,
  optionalBoolean,
  optionalNumber,
  optionalPositiveInteger,
  optionalPositiveNumber,
  optionalString,
  optionalTokenId,
  optionalTokenIds,
  optionalValue,
  requiredPositiveInteger,
  requiredPositiveNumber,
} from './config-fields.js';
import { ModelConfigError } from './model-errors.js';
import type { Architecture, ModelConfig, RopeConfig, RopeType } from './model-types.js';

/** Architectures (`architectures[0]` of config.json) the loader understands. */
export const SUPPORTED_ARCHITECTURES: readonly Architecture[] = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
];

/** RoPE types (`rope_type`, or `type` in old configs) the loader understands. */
export const SUPPORTED_ROPE_TYPES: readonly RopeType[] = ['default', 'linear', 'dynamic', 'llama3', 'yarn'];

/** transformers' `RotaryEmbeddingConfigMixin.default_theta`, used when a config names no θ. */
export const DEFAULT_ROPE_THETA = 10_000;

const MODEL_TYPES: Readonly<Record<Architecture, string>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

/**
 * Parses the JSON of a config.json. `file` is used only in error messages.
 *
 * Defaults, as transformers 5 applies them: `num_key_value_heads` = `num_attention_heads`; `head_dim`
 * = `hidden_size // num_attention_heads` when absent or null; `tie_word_embeddings` false;
 * `hidden_act` silu; RoPE θ 10000. Qwen2 always has q/k/v biases; Mistral and Qwen2 never have MLP
 * biases (their modules ignore `attention_bias`/`mlp_bias`). Two deliberate departures, both for keys
 * that transformers always writes: an absent `sliding_window` on Mistral is read as null (MistralConfig
 * would default to 4096), and the size keys (`vocab_size`, `hidden_size`, ...) are required rather
 * than taking class defaults.
 *
 * @throws ModelConfigError (E_MODEL_CONFIG) naming `file` and the key at fault.
 */
export function parseModelConfig(json: unknown, file: string): ModelConfig {
  const config = configObject(json, file);
  const architecture = readArchitecture(config);
  const modelType = optionalString(config, 'model_type') ?? MODEL_TYPES[architecture];

  const hiddenSize = requiredPositiveInteger(config, 'hidden_size');
  const numHeads = requiredPositiveInteger(config, 'num_attention_heads');
  const numKvHeads = optionalPositiveInteger(config, 'num_key_value_heads') ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError(
      file,
      'num_key_value_heads',
      `num_attention_heads (${numHeads}) is not divisible by num_key_value_heads (${numKvHeads})`,
    );
  }
  const headDim = readHeadDim(config, hiddenSize, numHeads);
  const maxPositionEmbeddings = requiredPositiveInteger(config, 'max_position_embeddings');

  const hiddenAct = optionalString(config, 'hidden_act') ?? 'silu';
  if (hiddenAct !== 'silu') {
    throw new ModelConfigError(file, 'hidden_act', `only "silu" is supported, got ${describe(hiddenAct)}`);
  }

  const { attentionBias, mlpBias } = readBiases(config, architecture);
  const bosTokenId = optionalTokenId(config, 'bos_token_id');
  const torchDtype = optionalString(config, 'dtype') ?? optionalString(config, 'torch_dtype');

  return {
    architecture,
    modelType,
    vocabSize: requiredPositiveInteger(config, 'vocab_size'),
    hiddenSize,
    intermediateSize: requiredPositiveInteger(config, 'intermediate_size'),
    numLayers: requiredPositiveInteger(config, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: requiredPositiveNumber(config, 'rms_norm_eps'),
    maxPositionEmbeddings,
    tieWordEmbeddings: optionalBoolean(config, 'tie_word_embeddings', false),
    attentionBias,
    mlpBias,
    rope: readRope(config, maxPositionEmbeddings),
    hiddenAct: 'silu',
    ...(bosTokenId === undefined ? {} : { bosTokenId }),
    eosTokenIds: optionalTokenIds(config, 'eos_token_id') ?? [],
    slidingWindow: readSlidingWindow(config, architecture),
    ...(torchDtype === undefined ? {} : { torchDtype }),
  };
}

/**
 * Reads and parses `<dir>/config.json`.
 *
 * @throws ModelConfigError when the file is missing or unreadable, is not JSON, or fails
 *   {@link parseModelConfig}.
 */
export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const file = join(dir, 'config.json');
  return parseModelConfig(await readJsonFile(file, true), file);
}

/**
 * Reads a JSON file for model loading. A missing file gives undefined unless `required`.
 *
 * @throws ModelConfigError when the file is required and missing, unreadable, or not valid JSON.
 */
export async function readJsonFile(file: string, required: true): Promise<unknown>;
export async function readJsonFile(file: string, required: false): Promise<unknown | undefined>;
export async function readJsonFile(file: string, required: boolean): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!required) return undefined;
      throw new ModelConfigError(file, undefined, 'file not found', { cause: error });
    }
    throw new ModelConfigError(file, undefined, `cannot read: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelConfigError(file, undefined, `invalid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function readArchitecture(config: ConfigObject): Architecture {
  const supported = SUPPORTED_ARCHITECTURES.join(', ');
  const architectures = optionalValue(config, 'architectures');
  if (architectures === undefined) {
    // transformers' Auto classes go by model_type when `architectures` is absent.
    const modelType = optionalString(config, 'model_type');
    const match = SUPPORTED_ARCHITECTURES.find((name) => MODEL_TYPES[name] === modelType);
    if (match !== undefined) return match;
    throw new ModelConfigError(
      config.file,
      'architectures',
      `missing, and model_type ${describe(modelType)} names no supported architecture; supported: ${supported}`,
    );
  }
  if (!Array.isArray(architectures) || architectures.length === 0 || typeof architectures[0] !== 'string') {
    throw invalid(config, 'architectures', 'a non-empty list of class names', architectures);
  }
  const name = architectures[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(name)) {
    throw new ModelConfigError(
      config.file,
      'architectures',
      `unsupported architecture "${name}"; supported: ${supported}`,
    );
  }
  return name as Architecture;
}

function readHeadDim(config: ConfigObject, hiddenSize: number, numHeads: number): number {
  const explicit = optionalPositiveInteger(config, 'head_dim');
  const headDim = explicit ?? Math.floor(hiddenSize / numHeads);
  if (headDim === 0 || headDim % 2 !== 0) {
    const why =
      explicit === undefined ? ` (hidden_size ${hiddenSize} // num_attention_heads ${numHeads})` : '';
    throw new ModelConfigError(
      config.file,
      'head_dim',
      `head_dim ${headDim}${why} must be even and positive for RoPE`,
    );
  }
  return headDim;
}

function readBiases(
  config: ConfigObject,
  architecture: Architecture,
): { attentionBias: boolean; mlpBias: boolean } {
  switch (architecture) {
    case 'Qwen2ForCausalLM':
      return { attentionBias: true, mlpBias: false };
    case 'MistralForCausalLM':
      return { attentionBias: false, mlpBias: false };
    case 'LlamaForCausalLM': {
      const attentionBias = optionalBoolean(config, 'attention_bias', false);
      if (attentionBias) {
        // LlamaAttention gives o_proj a bias too, which LayerWeights has no field for.
        throw new ModelConfigError(
          config.file,
          'attention_bias',
          'attention_bias: true on LlamaForCausalLM also biases o_proj, which is not supported yet',
        );
      }
      return { attentionBias, mlpBias: optionalBoolean(config, 'mlp_bias', false) };
    }
  }
}

function readSlidingWindow(config: ConfigObject, architecture: Architecture): number | null {
  switch (architecture) {
    case 'LlamaForCausalLM':
      return null;
    case 'MistralForCausalLM':
      return optionalPositiveInteger(config, 'sliding_window') ?? null;
    case 'Qwen2ForCausalLM':
      // Qwen2 applies `sliding_window` only to layers >= max_window_layers, and only when enabled.
      if (optionalBoolean(config, 'use_sliding_window', false)) {
        throw new ModelConfigError(
          config.file,
          'use_sliding_window',
          'per-layer sliding-window attention (use_sliding_window: true) is not supported',
        );
      }
      return null;
  }
}

/**
 * Normalises RoPE settings. As transformers' `convert_rope_params_to_dict`: the parameter dict is
 * `rope_scaling` when present (old style), else `rope_parameters` (transformers 5); θ is the dict's
 * `rope_theta`, else top-level `rope_theta`, else 10000; the type is `rope_type`, else `type`, else
 * default. For llama3 and yarn `original_max_position_embeddings` comes from a top-level key of that
 * name when there is one (transformers' Phi-3 exception), else the dict, else
 * `max_position_embeddings`. For dynamic it is `max_position_embeddings`, the length transformers'
 * dynamic-NTK function scales against.
 */
function readRope(config: ConfigObject, maxPositionEmbeddings: number): RopeConfig {
  const scaling = optionalValue(config, 'rope_scaling');
  const parameters = optionalValue(config, 'rope_parameters');
  // transformers takes `rope_scaling or rope_parameters`: an empty rope_scaling does not count.
  const useScaling = scaling !== undefined && !(isJsonObject(scaling) && Object.keys(scaling).length === 0);
  const sourceKey = useScaling ? 'rope_scaling' : 'rope_parameters';
  const source = (useScaling ? scaling : parameters) ?? {};
  const rope = configObject(source, config.file, `${sourceKey}.`);
  for (const [key, value] of Object.entries(rope.values)) {
    if (isJsonObject(value)) {
      throw new ModelConfigError(
        config.file,
        `${sourceKey}.${key}`,
        'per-layer RoPE parameters are not supported',
      );
    }
  }

  const rawType = optionalValue(rope, 'rope_type') ?? optionalValue(rope, 'type') ?? 'default';
  if (typeof rawType !== 'string' || !(SUPPORTED_ROPE_TYPES as readonly string[]).includes(rawType)) {
    throw new ModelConfigError(
      config.file,
      `${sourceKey}.rope_type`,
      `unsupported RoPE type ${describe(rawType)}; supported: ${SUPPORTED_ROPE_TYPES.join(', ')}`,
    );
  }
  const type = rawType as RopeType;

  const partial =
    optionalNumber(rope, 'partial_rotary_factor') ?? optionalNumber(config, 'partial_rotary_factor');
  if (partial !== undefined && partial !== 1) {
    throw new ModelConfigError(
      config.file,
      'partial_rotary_factor',
      `partial RoPE (${partial}) is not supported`,
    );
  }

  const theta =
    optionalPositiveNumber(rope, 'rope_theta') ??
    optionalPositiveNumber(config, 'rope_theta') ??
    DEFAULT_ROPE_THETA;
  if (type === 'default') return { type, theta };

  const factor = requiredPositiveNumber(rope, 'factor');
  if (type === 'linear') return { type, theta, factor };
  if (type === 'dynamic')
    return { type, theta, factor, originalMaxPositionEmbeddings: maxPositionEmbeddings };

  const originalMaxPositionEmbeddings =
    optionalPositiveInteger(config, 'original_max_position_embeddings') ??
    optionalPositiveInteger(rope, 'original_max_position_embeddings') ??
    maxPositionEmbeddings;

  if (type === 'llama3') {
    const lowFreqFactor = requiredPositiveNumber(rope, 'low_freq_factor');
    const highFreqFactor = requiredPositiveNumber(rope, 'high_freq_factor');
    if (!(highFreqFactor > lowFreqFactor)) {
      throw new ModelConfigError(
        config.file,
        `${sourceKey}.high_freq_factor`,
        `must be greater than low_freq_factor (${lowFreqFactor}), got ${highFreqFactor}`,
      );
    }
    return { type, theta, factor, originalMaxPositionEmbeddings, lowFreqFactor, highFreqFactor };
  }

  // yarn. transformers reads beta_fast/beta_slow with `or`, so 0 also means "use the default".
  const attentionFactor = optionalPositiveNumber(rope, 'attention_factor');
  const mscale = optionalNumber(rope, 'mscale');
  const mscaleAllDim = optionalNumber(rope, 'mscale_all_dim');
  return {
    type,
    theta,
    factor,
    originalMaxPositionEmbeddings,
    betaFast: optionalNumber(rope, 'beta_fast') || 32,
    betaSlow: optionalNumber(rope, 'beta_slow') || 1,
    ...(attentionFactor === undefined ? {} : { attentionFactor }),
    ...(mscale === undefined ? {} : { mscale }),
    ...(mscaleAllDim === undefined ? {} : { mscaleAllDim }),
    truncate: optionalBoolean(rope, 'truncate', true),
  };
}
