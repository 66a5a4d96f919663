// Reads a quantized checkpoint directory (format in checkpoint-format.ts) back into a W8A8
// ModelSource without recalibrating. Nothing is trusted: the format version, every tensor's presence,
// dtype, shape and sha256 are checked, and each failure names the file and tensor.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join, resolve } from 'node:path';
import {
  bfloat16ToFloat32Array,
  dequantizedWeights,
  float16ToFloat32Array,
  type GenerationConfig,
  type Int8Linear,
  type LayerWeights,
  type LoadedModel,
  linearShapes,
  type ModelConfig,
  type ModelWeights,
  readGenerationConfig,
  readModelConfig,
  SafetensorsCheckpoint,
  validateW8A8Weights,
  type W8A8LayerWeights,
  type W8A8Weights,
} from '@duo-attn/core';
import {
  BIAS_TENSOR_NAMES,
  biasFields,
  CHECKSUMS_FILE,
  LINEAR_TENSOR_NAMES,
  QUANT_FORMAT_VERSION,
  QUANT_METHOD,
  QUANT_WEIGHTS_FILE,
  type TensorChecksum,
} from './checkpoint-format.js';
import { QuantCheckpointError } from './quant-errors.js';
import type { W8A8Provenance } from './quantize-model.js';

/** A loaded quantized checkpoint: usable wherever a LoadedModel is, and carrying its W8A8 weights. */
export interface LoadedQuantizedModel extends LoadedModel {
  readonly w8a8: W8A8Weights;
  readonly provenance: W8A8Provenance;
}

/** Options of {@link loadQuantizedModel}. */
export interface LoadQuantizedOptions {
  readonly signal?: AbortSignal;
}

/**
 * True when `dir`'s config.json has a `quantization_config` (any method): such a directory is not a
 * float checkpoint, and core's `loadModel` cannot read it.
 */
export async function hasQuantizationConfig(dir: string): Promise<boolean> {
  try {
    const json: unknown = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    return typeof json === 'object' && json !== null && 'quantization_config' in json;
  } catch {
    return false;
  }
}

/**
 * Loads the quantized checkpoint in `dir`.
 *
 * @throws QuantCheckpointError: `E_QUANT_VERSION` for another method or format version,
 *   `E_QUANT_CHECKSUM` for a tensor whose bytes do not match checksums.json, `E_QUANT_CHECKPOINT` for
 *   a missing, extra or misshapen tensor or a malformed manifest; core's errors for a bad config.json.
 */
export async function loadQuantizedModel(
  dir: string,
  options: LoadQuantizedOptions = {},
): Promise<LoadedQuantizedModel> {
  if (endianness() !== 'LE') {
    throw new QuantCheckpointError(
      'E_QUANT_CHECKPOINT',
      dir,
      undefined,
      'quantized checkpoints load on little-endian hosts only',
    );
  }
  const directory = resolve(dir);
  const configFile = join(directory, 'config.json');
  const quantization = await readQuantizationConfig(configFile);
  const config = await readModelConfig(directory);
  const generationConfig = await readGenerationConfig(directory);
  const checksums = await readChecksums(join(directory, CHECKSUMS_FILE));
  const weightsFile = join(directory, QUANT_WEIGHTS_FILE);
  const expected = expectedTensors(config);
  for (const name of Object.keys(checksums)) {
    if (!expected.has(name)) {
      throw new QuantCheckpointError(
        'E_QUANT_CHECKPOINT',
        join(directory, CHECKSUMS_FILE),
        name,
        'lists a tensor this model does not have',
      );
    }
  }
  const checkpoint = await SafetensorsCheckpoint.openFile(weightsFile);
  try {
    for (const name of checkpoint.names()) {
      if (!expected.has(name)) {
        throw new QuantCheckpointError('E_QUANT_CHECKPOINT', weightsFile, name, 'unexpected tensor');
      }
    }
    const read = async (name: string): Promise<{ dtype: string; bytes: Uint8Array }> => {
      options.signal?.throwIfAborted();
      const entry = checksums[name];
      if (entry === undefined) {
        throw new QuantCheckpointError(
          'E_QUANT_CHECKPOINT',
          join(directory, CHECKSUMS_FILE),
          name,
          'no checksum for this tensor',
        );
      }
      if (!checkpoint.has(name))
        throw new QuantCheckpointError('E_QUANT_CHECKPOINT', weightsFile, name, 'missing tensor');
      const info = checkpoint.info(name);
      const shape = expected.get(name)!;
      const describe = (dtype: string, dims: readonly number[]) => `${dtype} [${dims.join(', ')}]`;
      if (
        info.dtype !== entry.dtype ||
        !sameShape(info.shape, entry.shape) ||
        !sameShape(info.shape, shape)
      ) {
        throw new QuantCheckpointError(
          'E_QUANT_CHECKPOINT',
          weightsFile,
          name,
          `is ${describe(info.dtype, info.shape)}; ${CHECKSUMS_FILE} says ${describe(entry.dtype, entry.shape)}, the config implies shape [${shape.join(', ')}]`,
        );
      }
      const bytes = await checkpoint.readBytes(name);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (sha256 !== entry.sha256) {
        throw new QuantCheckpointError(
          'E_QUANT_CHECKSUM',
          weightsFile,
          name,
          `sha256 ${sha256} does not match ${entry.sha256} in ${CHECKSUMS_FILE}`,
        );
      }
      return { dtype: info.dtype, bytes };
    };
    const readFloat = async (name: string): Promise<Float32Array> => {
      const { dtype, bytes } = await read(name);
      return decodeFloat(dtype, bytes, weightsFile, name);
    };
    const readLinear = async (name: string, out: number, inFeatures: number): Promise<Int8Linear> => {
      const codes = await read(`${name}.weight`);
      if (codes.dtype !== 'I8') {
        throw new QuantCheckpointError(
          'E_QUANT_CHECKPOINT',
          weightsFile,
          `${name}.weight`,
          `must be I8, is ${codes.dtype}`,
        );
      }
      const scale = await read(`${name}.weight_scale`);
      if (scale.dtype !== 'F16') {
        throw new QuantCheckpointError(
          'E_QUANT_CHECKPOINT',
          weightsFile,
          `${name}.weight_scale`,
          `must be F16, is ${scale.dtype}`,
        );
      }
      return {
        outFeatures: out,
        inFeatures,
        weight: new Int8Array(codes.bytes.buffer, codes.bytes.byteOffset, codes.bytes.byteLength),
        scale: decodeFloat('F16', scale.bytes, weightsFile, `${name}.weight_scale`),
      };
    };

    const shapes = linearShapes(config);
    const embedTokens = await readFloat('model.embed_tokens.weight');
    const floatLayers: LayerWeights[] = [];
    const int8Layers: W8A8LayerWeights[] = [];
    for (let index = 0; index < config.numLayers; index++) {
      const prefix = `model.layers.${index}`;
      const linears: Partial<Record<keyof typeof LINEAR_TENSOR_NAMES, Int8Linear>> = {};
      for (const [field, hfName] of Object.entries(LINEAR_TENSOR_NAMES)) {
        const key = field as keyof typeof LINEAR_TENSOR_NAMES;
        linears[key] = await readLinear(`${prefix}.${hfName}`, shapes[key][0], shapes[key][1]);
      }
      int8Layers.push(linears as W8A8LayerWeights);
      const empty = new Float32Array(0); // replaced by the dequantized view below
      const layer: Record<string, Float32Array> = {
        inputNorm: await readFloat(`${prefix}.input_layernorm.weight`),
        postAttentionNorm: await readFloat(`${prefix}.post_attention_layernorm.weight`),
      };
      for (const field of Object.keys(LINEAR_TENSOR_NAMES)) layer[field] = empty;
      for (const field of biasFields(config))
        layer[field] = await readFloat(`${prefix}.${BIAS_TENSOR_NAMES[field]}`);
      floatLayers.push(layer as unknown as LayerWeights);
    }
    const norm = await readFloat('model.norm.weight');
    const lmHead = config.tieWordEmbeddings ? embedTokens : await readFloat('lm_head.weight');
    const w8a8 = { layers: int8Layers };
    try {
      validateW8A8Weights(config, w8a8);
    } catch (error) {
      throw new QuantCheckpointError('E_QUANT_CHECKPOINT', weightsFile, undefined, (error as Error).message);
    }
    const weights: ModelWeights = dequantizedWeights(
      { embedTokens, layers: floatLayers, norm, lmHead },
      w8a8,
    );
    const eosTokenIds = generationConfig?.eosTokenIds ?? config.eosTokenIds;
    return {
      directory,
      config,
      weights,
      w8a8,
      ...(generationConfig === undefined ? {} : { generationConfig: generationConfig as GenerationConfig }),
      eosTokenIds,
      provenance: {
        alpha: quantization.alpha,
        calibrationSequences: quantization.calibrationSequences,
        calibrationTokens: quantization.calibrationTokens,
      },
    };
  } finally {
    await checkpoint.close();
  }
}

/** Every tensor name of a quantized checkpoint of `config`, with its shape. */
function expectedTensors(config: ModelConfig): Map<string, readonly number[]> {
  const { vocabSize, hiddenSize: h } = config;
  const shapes = linearShapes(config);
  const names = new Map<string, readonly number[]>([['model.embed_tokens.weight', [vocabSize, h]]]);
  for (let index = 0; index < config.numLayers; index++) {
    const prefix = `model.layers.${index}`;
    names.set(`${prefix}.input_layernorm.weight`, [h]);
    names.set(`${prefix}.post_attention_layernorm.weight`, [h]);
    for (const [field, hfName] of Object.entries(LINEAR_TENSOR_NAMES)) {
      const [out, inFeatures] = shapes[field as keyof typeof LINEAR_TENSOR_NAMES];
      names.set(`${prefix}.${hfName}.weight`, [out, inFeatures]);
      names.set(`${prefix}.${hfName}.weight_scale`, [out]);
    }
    for (const field of biasFields(config)) {
      const linear = {
        qBias: 'qProj',
        kBias: 'kProj',
        vBias: 'vProj',
        gateBias: 'gateProj',
        upBias: 'upProj',
        downBias: 'downProj',
      } as const;
      names.set(`${prefix}.${BIAS_TENSOR_NAMES[field]}`, [shapes[linear[field]][0]]);
    }
  }
  names.set('model.norm.weight', [h]);
  if (!config.tieWordEmbeddings) names.set('lm_head.weight', [vocabSize, h]);
  return names;
}

function decodeFloat(dtype: string, bytes: Uint8Array, file: string, name: string): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
  if (dtype === 'F16' || dtype === 'BF16') {
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    const out = new Float32Array(halves.length);
    (dtype === 'F16' ? float16ToFloat32Array : bfloat16ToFloat32Array)(halves, out);
    return out;
  }
  throw new QuantCheckpointError(
    'E_QUANT_CHECKPOINT',
    file,
    name,
    `float tensor stored as ${dtype}; expected F32, F16 or BF16`,
  );
}

interface QuantizationInfo {
  readonly alpha: number;
  readonly calibrationSequences: number;
  readonly calibrationTokens: number;
}

async function readQuantizationConfig(file: string): Promise<QuantizationInfo> {
  const json = await readJson(file);
  const quantization = (json as { quantization_config?: unknown }).quantization_config;
  if (typeof quantization !== 'object' || quantization === null) {
    throw new QuantCheckpointError(
      'E_QUANT_CHECKPOINT',
      file,
      undefined,
      'has no quantization_config object: not a quantized checkpoint',
    );
  }
  const {
    quant_method: method,
    format_version: version,
    smoothquant,
  } = quantization as Record<string, unknown>;
  if (method !== QUANT_METHOD) {
    throw new QuantCheckpointError(
      'E_QUANT_VERSION',
      file,
      undefined,
      `quantization_config.quant_method is ${JSON.stringify(method)}; this reader knows ${JSON.stringify(QUANT_METHOD)}`,
    );
  }
  if (version !== QUANT_FORMAT_VERSION) {
    throw new QuantCheckpointError(
      'E_QUANT_VERSION',
      file,
      undefined,
      `quantization_config.format_version is ${JSON.stringify(version)}; this reader knows version ${QUANT_FORMAT_VERSION}`,
    );
  }
  const sq = (typeof smoothquant === 'object' && smoothquant !== null ? smoothquant : {}) as Record<
    string,
    unknown
  >;
  const number = (value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) ? value : Number.NaN;
  return {
    alpha: number(sq.alpha),
    calibrationSequences: number(sq.calibration_sequences),
    calibrationTokens: number(sq.calibration_tokens),
  };
}

async function readChecksums(file: string): Promise<Readonly<Record<string, TensorChecksum>>> {
  const json = (await readJson(file)) as Record<string, unknown>;
  if (json.format_version !== QUANT_FORMAT_VERSION) {
    throw new QuantCheckpointError(
      'E_QUANT_VERSION',
      file,
      undefined,
      `format_version is ${JSON.stringify(json.format_version)}; this reader knows version ${QUANT_FORMAT_VERSION}`,
    );
  }
  if (json.algorithm !== 'sha256' || typeof json.tensors !== 'object' || json.tensors === null) {
    throw new QuantCheckpointError(
      'E_QUANT_CHECKPOINT',
      file,
      undefined,
      'expected {"algorithm": "sha256", "tensors": {...}}',
    );
  }
  const tensors = json.tensors as Record<string, unknown>;
  for (const [name, entry] of Object.entries(tensors)) {
    const e = entry as Partial<TensorChecksum> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.dtype !== 'string' ||
      !Array.isArray(e.shape) ||
      typeof e.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(e.sha256)
    ) {
      throw new QuantCheckpointError(
        'E_QUANT_CHECKPOINT',
        file,
        name,
        'entry must be {dtype, shape, sha256 (64 hex digits)}',
      );
    }
  }
  return tensors as Record<string, TensorChecksum>;
}

async function readJson(file: string): Promise<object> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new QuantCheckpointError(
      'E_QUANT_CHECKPOINT',
      file,
      undefined,
      `cannot read: ${(error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new QuantCheckpointError(
      'E_QUANT_CHECKPOINT',
      file,
      undefined,
      `invalid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new QuantCheckpointError('E_QUANT_CHECKPOINT', file, undefined, 'must hold a JSON object');
  }
  return json;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
