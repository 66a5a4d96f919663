// Typed errors of model loading. Each names the file and the key or tensor at fault, so a user can
// fix a broken checkpoint without reading our code; codes are stable for scripts.
import { DuoError } from '../errors.js';

/** config.json (or generation_config.json) is missing, not JSON, or describes a model we cannot run. */
export class ModelConfigError extends DuoError {
  /** The config file at fault. */
  readonly file: string;
  /** The JSON key at fault, when one is. */
  readonly key: string | undefined;

  constructor(file: string, key: string | undefined, message: string, options?: { cause?: unknown }) {
    super('E_MODEL_CONFIG', `${file}${key === undefined ? '' : ` (key "${key}")`}: ${message}`, options);
    this.name = 'ModelConfigError';
    this.file = file;
    this.key = key;
  }
}

/** No readable checkpoint in a model directory, or a shard index that does not hold together. */
export class CheckpointError extends DuoError {
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(file: string, tensor: string | undefined, message: string, options?: { cause?: unknown }) {
    super(
      'E_CHECKPOINT',
      `${file}${tensor === undefined ? '' : ` (tensor "${tensor}")`}: ${message}`,
      options,
    );
    this.name = 'CheckpointError';
    this.file = file;
    this.tensor = tensor;
  }
}

/** A safetensors file whose header or data is malformed: bad JSON, lying offsets, truncation. */
export class SafetensorsFormatError extends DuoError {
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(file: string, tensor: string | undefined, message: string, options?: { cause?: unknown }) {
    super(
      'E_SAFETENSORS',
      `${file}${tensor === undefined ? '' : ` (tensor "${tensor}")`}: ${message}`,
      options,
    );
    this.name = 'SafetensorsFormatError';
    this.file = file;
    this.tensor = tensor;
  }
}

/** A tensor whose dtype we cannot convert to float32 (only F32, F16 and BF16 can be). */
export class UnsupportedDtypeError extends DuoError {
  readonly file: string;
  readonly tensor: string;
  readonly dtype: string;

  constructor(file: string, tensor: string, dtype: string) {
    super(
      'E_SAFETENSORS_DTYPE',
      `${file} (tensor "${tensor}"): dtype ${dtype} cannot be read as float32; supported: F32, F16, BF16`,
    );
    this.name = 'UnsupportedDtypeError';
    this.file = file;
    this.tensor = tensor;
    this.dtype = dtype;
  }
}

/** A checkpoint whose tensors do not match its config: missing, unexpected, or of the wrong shape. */
export class ModelWeightsError extends DuoError {
  /** The checkpoint file holding the tensor, or the file where it was looked for. */
  readonly file: string;
  readonly tensor: string;

  constructor(file: string, tensor: string, message: string) {
    super('E_MODEL_WEIGHTS', `${file} (tensor "${tensor}"): ${message}`);
    this.name = 'ModelWeightsError';
    this.file = file;
    this.tensor = tensor;
  }
}

/** Bad arguments to the RoPE helpers: an odd head size, a RopeConfig missing what its type needs. */
export class RopeParameterError extends DuoError {
  constructor(message: string) {
    super('E_ROPE', message);
    this.name = 'RopeParameterError';
  }
}
