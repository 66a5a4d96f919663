// The quantized checkpoint format, version 1: a model directory that reloads without recalibration.
//
//   config.json        the float model's HF config plus `quantization_config` (method, format_version,
//                      scheme, SmoothQuant α and calibration size)
//   model.safetensors  int8 linears (I8 `[out, in]`) + their per-output-channel scales (F16 `[out]`,
//                      named `<linear>.weight_scale`), smoothed norms (F32), embeddings, LM head and
//                      biases in the float dtype chosen at write time
//   checksums.json     format_version, and per tensor its dtype, shape and the sha256 of its stored bytes
//   tokenizer and generation files copied from the float model's directory
import type { ModelConfig } from '@duo-attn/core';

/** The version this code writes and the only one it reads. */
export const QUANT_FORMAT_VERSION = 1;
/** `quantization_config.quant_method` of our W8A8 checkpoints. */
export const QUANT_METHOD = 'duo-w8a8';
/** Name of the per-tensor checksum manifest. */
export const CHECKSUMS_FILE = 'checksums.json';
/** Name of the single safetensors file. */
export const QUANT_WEIGHTS_FILE = 'model.safetensors';
/** Files copied from the float model's directory when present (tokenizer, chat template, generation). */
export const COPIED_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
] as const;

/** `quantization_config` of config.json. */
export interface QuantizationConfigJson {
  readonly quant_method: typeof QUANT_METHOD;
  readonly format_version: number;
  readonly weights: {
    readonly bits: 8;
    readonly symmetric: true;
    readonly granularity: 'per-output-channel';
    readonly scale_dtype: 'float16';
  };
  readonly activations: {
    readonly bits: 8;
    readonly symmetric: true;
    readonly granularity: 'per-token';
    readonly dynamic: true;
  };
  readonly smoothquant: {
    readonly alpha: number;
    readonly calibration_sequences: number;
    readonly calibration_tokens: number;
  };
  /** Layers kept in float. */
  readonly modules_not_quantized: readonly string[];
}

/** One entry of checksums.json. */
export interface TensorChecksum {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Lowercase hex sha256 of the tensor's bytes as stored (little-endian, row-major). */
  readonly sha256: string;
}

/** checksums.json. */
export interface ChecksumsJson {
  readonly format_version: number;
  readonly algorithm: 'sha256';
  readonly file: typeof QUANT_WEIGHTS_FILE;
  readonly tensors: Readonly<Record<string, TensorChecksum>>;
}

/** HF names of a layer's linears, by our field name. */
export const LINEAR_TENSOR_NAMES = {
  qProj: 'self_attn.q_proj',
  kProj: 'self_attn.k_proj',
  vProj: 'self_attn.v_proj',
  oProj: 'self_attn.o_proj',
  gateProj: 'mlp.gate_proj',
  upProj: 'mlp.up_proj',
  downProj: 'mlp.down_proj',
} as const;

/** HF names of the optional biases, by our field name. */
export const BIAS_TENSOR_NAMES = {
  qBias: 'self_attn.q_proj.bias',
  kBias: 'self_attn.k_proj.bias',
  vBias: 'self_attn.v_proj.bias',
  gateBias: 'mlp.gate_proj.bias',
  upBias: 'mlp.up_proj.bias',
  downBias: 'mlp.down_proj.bias',
} as const;

/** The bias fields a config has. */
export function biasFields(config: ModelConfig): (keyof typeof BIAS_TENSOR_NAMES)[] {
  return [
    ...(config.attentionBias ? (['qBias', 'kBias', 'vBias'] as const) : []),
    ...(config.mlpBias ? (['gateBias', 'upBias', 'downBias'] as const) : []),
  ];
}
