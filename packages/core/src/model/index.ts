// Public API of model loading: HF config parsing, RoPE, safetensors reading and writing, and whole
// model directories. The package index re-exports this.

export {
  DEFAULT_MODEL_ENV,
  DEFAULT_MODEL_NAME,
  DefaultModelNotFoundError,
  defaultModelDirectory,
} from './default-model.js';
export {
  bfloat16BitsToFloat32,
  bfloat16ToFloat32Array,
  float16BitsToFloat32,
  float16ToFloat32Array,
  float32ToBfloat16Array,
  float32ToBfloat16Bits,
  float32ToFloat16Array,
  float32ToFloat16Bits,
} from './float-conversion.js';
export type { GenerationConfig } from './generation-config.js';
export { parseGenerationConfig, readGenerationConfig } from './generation-config.js';
export type { LoadedModel, LoadModelOptions } from './load-model.js';
export { loadModel } from './load-model.js';
export type { ExpectedTensor, LoadWeightsOptions, TensorSource } from './load-weights.js';
export { expectedTensors, loadWeights } from './load-weights.js';
export {
  DEFAULT_ROPE_THETA,
  parseModelConfig,
  readModelConfig,
  SUPPORTED_ARCHITECTURES,
  SUPPORTED_ROPE_TYPES,
} from './model-config.js';
export {
  CheckpointError,
  ModelConfigError,
  ModelWeightsError,
  RopeParameterError,
  SafetensorsFormatError,
  UnsupportedDtypeError,
} from './model-errors.js';
export type {
  Architecture,
  LayerWeights,
  ModelConfig,
  ModelWeights,
  RopeConfig,
  RopeType,
} from './model-types.js';
export type { RandomModelOptions } from './random-model.js';
export { randomWeight, toHfConfigJson, writeRandomModel } from './random-model.js';
export type { RandomModelSourceOptions } from './random-model-source.js';
export { createRandomModel, randomModelConfig } from './random-model-source.js';
export type { RopeFrequencies } from './rope.js';
export {
  applyRopeInPlace,
  dynamicRopeLength,
  ropeCosSin,
  ropeFrequencies,
  rotateHalfInPlace,
} from './rope.js';
export type { RopeAngles } from './rope-angle-table.js';
export { RopeAngleTable } from './rope-angle-table.js';
export type { TensorInfo } from './safetensors.js';
export { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, SafetensorsCheckpoint } from './safetensors.js';
export { SafetensorsFile } from './safetensors-file.js';
export type { SafetensorsEntry } from './safetensors-header.js';
export { MAX_SAFETENSORS_HEADER_BYTES, SAFETENSORS_DTYPE_BITS } from './safetensors-header.js';
export type { RawTensorToWrite, TensorToWrite, WritableDtype } from './safetensors-writer.js';
export { SafetensorsWriteError, writeSafetensors } from './safetensors-writer.js';
