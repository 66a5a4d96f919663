// Public surface of the quantized formats the backends consume (docs/decisions/0007): the KV4 cache
// codec, int8 activations and weights, the simulated W8A8 GEMM, and their rounding rules.
// Calibration and checkpoint I/O live in @duo-attn/quant.

export type { Int8Rows } from './int8-activations.js';
export { INT8_MAX_CODE, int8Code, quantizeInt8PerToken } from './int8-activations.js';
export type { Int8Linear } from './int8-weights.js';
export { checkInt8Linear, dequantizeInt8Linear, quantizeInt8Linear } from './int8-weights.js';
export type { Kv4Groups } from './kv4-codec.js';
export {
  allocateKv4Groups,
  copyKv4Groups,
  dequantizeKv4,
  dequantizeKv4Group,
  KV4_MAX_CODE,
  KV4_SCALE_EPSILON,
  kv4GroupBytes,
  quantizeKv4,
  quantizeKv4Into,
} from './kv4-codec.js';
export { QuantFormatError } from './quant-errors.js';
export type { W8A8ModelSource } from './quantize-linears.js';
export { dequantizedWeights, quantizeLayerLinears, quantizeLinears } from './quantize-linears.js';
export { roundHalfAwayFromZero, roundHalfToEven, roundToFloat16 } from './rounding.js';
export { int8Matmul, linearW8A8 } from './w8a8-linear.js';
export type { W8A8LayerWeights, W8A8Weights } from './w8a8-weights.js';
export { linearShapes, validateW8A8Weights, W8A8_LINEARS } from './w8a8-weights.js';
