// Writes a W8A8 model as a quantized checkpoint directory (format in checkpoint-format.ts). The whole
// directory is built beside the target and swapped in by rename, so a failed write leaves the old
// directory (or nothing) in place.
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import {
  float32ToBfloat16Array,
  float32ToFloat16Array,
  type RawTensorToWrite,
  toHfConfigJson,
  writeSafetensors,
} from '@duo-attn/core';
import {
  BIAS_TENSOR_NAMES,
  biasFields,
  CHECKSUMS_FILE,
  type ChecksumsJson,
  COPIED_FILES,
  LINEAR_TENSOR_NAMES,
  QUANT_FORMAT_VERSION,
  QUANT_METHOD,
  QUANT_WEIGHTS_FILE,
  type QuantizationConfigJson,
  type TensorChecksum,
} from './checkpoint-format.js';
import { QuantOptionsError } from './quant-errors.js';
import type { QuantizedModel } from './quantize-model.js';

/** Float dtypes the embeddings, LM head and biases may be stored in. */
export type FloatStorageDtype = 'F32' | 'F16' | 'BF16';

/** Options of {@link writeQuantizedCheckpoint}. */
export interface WriteQuantizedOptions {
  /**
   * The float model's directory: its config.json is the base of ours (unknown keys kept) and its
   * tokenizer and generation files are copied. Without it, config.json is rebuilt from the config.
   */
  readonly sourceDirectory?: string;
  /** Dtype of embeddings, LM head and biases (default from `config.torchDtype`: bf16/fp16, else F32). */
  readonly floatDtype?: FloatStorageDtype;
}

/**
 * Writes `model` to `directory`. An existing `directory` is replaced only when it is empty or a
 * quantized checkpoint (it holds checksums.json); anything else is refused.
 *
 * @throws QuantOptionsError when `directory` holds something else; file-system errors as node:fs.
 */
export async function writeQuantizedCheckpoint(
  directory: string,
  model: QuantizedModel,
  options: WriteQuantizedOptions = {},
): Promise<void> {
  if (endianness() !== 'LE')
    throw new QuantOptionsError('quantized checkpoints are written on little-endian hosts only');
  const target = resolve(directory);
  await checkReplaceable(target);
  const staging = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(staging);
  try {
    const floatDtype = options.floatDtype ?? floatDtypeOf(model.config.torchDtype);
    const tensors = checkpointTensors(model, floatDtype);
    await writeSafetensors(join(staging, QUANT_WEIGHTS_FILE), tensors, { format: 'pt' });
    const checksums: Record<string, TensorChecksum> = {};
    for (const [name, tensor] of Object.entries(tensors)) {
      checksums[name] = {
        dtype: tensor.dtype,
        shape: tensor.shape,
        sha256: createHash('sha256').update(tensor.bytes).digest('hex'),
      };
    }
    const manifest: ChecksumsJson = {
      format_version: QUANT_FORMAT_VERSION,
      algorithm: 'sha256',
      file: QUANT_WEIGHTS_FILE,
      tensors: checksums,
    };
    await writeFile(join(staging, CHECKSUMS_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    const config = await baseConfigJson(model, options.sourceDirectory);
    config.quantization_config = quantizationConfig(model);
    await writeFile(join(staging, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    if (options.sourceDirectory !== undefined) {
      for (const name of COPIED_FILES) {
        const from = join(options.sourceDirectory, name);
        if (await isFile(from)) await copyFile(from, join(staging, name));
      }
    }
    await swapIn(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Every tensor of the checkpoint as the bytes to store, in a stable order. */
function checkpointTensors(
  model: QuantizedModel,
  floatDtype: FloatStorageDtype,
): Record<string, RawTensorToWrite> {
  const { config, weights, w8a8 } = model;
  const h = config.hiddenSize;
  const tensors: Record<string, RawTensorToWrite> = {};
  const float = (
    name: string,
    shape: number[],
    data: Float32Array,
    dtype: FloatStorageDtype = floatDtype,
  ) => {
    tensors[name] = { dtype, shape, bytes: floatBytes(data, dtype) };
  };
  float('model.embed_tokens.weight', [config.vocabSize, h], weights.embedTokens);
  weights.layers.forEach((layer, index) => {
    const prefix = `model.layers.${index}`;
    float(`${prefix}.input_layernorm.weight`, [h], layer.inputNorm, 'F32');
    float(`${prefix}.post_attention_layernorm.weight`, [h], layer.postAttentionNorm, 'F32');
    for (const [field, hfName] of Object.entries(LINEAR_TENSOR_NAMES)) {
      const linear = w8a8.layers[index]![field as keyof typeof LINEAR_TENSOR_NAMES];
      tensors[`${prefix}.${hfName}.weight`] = {
        dtype: 'I8',
        shape: [linear.outFeatures, linear.inFeatures],
        bytes: new Uint8Array(linear.weight.buffer, linear.weight.byteOffset, linear.weight.byteLength),
      };
      float(`${prefix}.${hfName}.weight_scale`, [linear.outFeatures], linear.scale, 'F16');
    }
    for (const field of biasFields(config)) {
      const bias = layer[field]!;
      float(`${prefix}.${BIAS_TENSOR_NAMES[field]}`, [bias.length], bias);
    }
  });
  float('model.norm.weight', [h], weights.norm, 'F32');
  if (!config.tieWordEmbeddings) float('lm_head.weight', [config.vocabSize, h], weights.lmHead);
  return tensors;
}

/** Little-endian bytes of `data` in `dtype` (round to nearest even for the halves). */
export function floatBytes(data: Float32Array, dtype: FloatStorageDtype): Uint8Array {
  const typed =
    dtype === 'F32' ? data : dtype === 'F16' ? float32ToFloat16Array(data) : float32ToBfloat16Array(data);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function floatDtypeOf(torchDtype: string | undefined): FloatStorageDtype {
  return torchDtype === 'bfloat16' ? 'BF16' : torchDtype === 'float16' ? 'F16' : 'F32';
}

function quantizationConfig(model: QuantizedModel): QuantizationConfigJson {
  return {
    quant_method: QUANT_METHOD,
    format_version: QUANT_FORMAT_VERSION,
    weights: { bits: 8, symmetric: true, granularity: 'per-output-channel', scale_dtype: 'float16' },
    activations: { bits: 8, symmetric: true, granularity: 'per-token', dynamic: true },
    smoothquant: {
      alpha: model.provenance.alpha,
      calibration_sequences: model.provenance.calibrationSequences,
      calibration_tokens: model.provenance.calibrationTokens,
    },
    modules_not_quantized: ['embed_tokens', 'lm_head'],
  };
}

async function baseConfigJson(
  model: QuantizedModel,
  sourceDirectory: string | undefined,
): Promise<Record<string, unknown>> {
  if (sourceDirectory === undefined) return toHfConfigJson(model.config);
  const file = join(sourceDirectory, 'config.json');
  const json: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new QuantOptionsError(`${file} is not a JSON object`);
  }
  return { ...(json as Record<string, unknown>) };
}

async function checkReplaceable(target: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(target)).isDirectory()) {
      throw new QuantOptionsError(`${target} exists and is not a directory; refusing to replace it`);
    }
    entries = await readdir(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0 && !entries.includes(CHECKSUMS_FILE)) {
    throw new QuantOptionsError(
      `${target} is not empty and not a quantized checkpoint (no ${CHECKSUMS_FILE}); refusing to replace it`,
    );
  }
}

/** Renames `staging` to `target`, moving an existing `target` aside first and removing it after. */
async function swapIn(staging: string, target: string): Promise<void> {
  const old = `${staging}.old`;
  let moved = false;
  try {
    await rename(target, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    await rename(staging, target);
  } catch (error) {
    if (moved) await rename(old, target);
    throw error;
  }
  if (moved) await rm(old, { recursive: true, force: true });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
