// @duo-attn/quant: W8A8 weights and the 4-bit KV cache. The formats themselves (KV4 codec, int8
// activations and weights, the W8A8 GEMM) live in @duo-attn/core so its backends can run them
// (docs/decisions/0007); they are re-exported here. This package adds SmoothQuant calibration,
// whole-model quantization and quantized checkpoint I/O.

export type { Int8Linear, Int8Rows, Kv4Groups, W8A8LayerWeights, W8A8Weights } from '@duo-attn/core';
export {
  allocateKv4Groups,
  dequantizedWeights,
  dequantizeInt8Linear,
  dequantizeKv4,
  dequantizeKv4Group,
  INT8_MAX_CODE,
  KV4_MAX_CODE,
  KV4_SCALE_EPSILON,
  kv4GroupBytes,
  linearW8A8,
  QuantFormatError,
  quantizeInt8Linear,
  quantizeInt8PerToken,
  quantizeKv4,
  quantizeKv4Into,
  quantizeLinears,
  roundHalfAwayFromZero,
  roundHalfToEven,
} from '@duo-attn/core';
export type { CalibrationOptions, CalibrationProgress, LayerActivationScales } from './calibrate.js';
export { collectActivationScales } from './calibrate.js';
export type {
  ChecksumsJson,
  QuantizationConfigJson,
  TensorChecksum,
} from './checkpoint-format.js';
export {
  CHECKSUMS_FILE,
  QUANT_FORMAT_VERSION,
  QUANT_METHOD,
  QUANT_WEIGHTS_FILE,
} from './checkpoint-format.js';
export type { QuantCheckpointErrorCode } from './quant-errors.js';
export { QuantCheckpointError, QuantOptionsError } from './quant-errors.js';
export type { QuantizedModel, QuantizeOptions, QuantizeProgress, W8A8Provenance } from './quantize-model.js';
export { quantizeModelW8A8 } from './quantize-model.js';
export type { LoadedQuantizedModel, LoadQuantizedOptions } from './read-checkpoint.js';
export { hasQuantizationConfig, loadQuantizedModel } from './read-checkpoint.js';
export type { LayerSmoothing } from './smoothquant.js';
export {
  applySmoothing,
  DEFAULT_SMOOTHQUANT_ALPHA,
  SMOOTHING_FLOOR,
  smoothingFactors,
  smoothingForModel,
} from './smoothquant.js';
export type { FloatStorageDtype, WriteQuantizedOptions } from './write-checkpoint.js';
export { writeQuantizedCheckpoint } from './write-checkpoint.js';
