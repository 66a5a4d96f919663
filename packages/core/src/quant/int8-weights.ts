// W8: a linear layer's `[outFeatures, inFeatures]` weight as int8 codes, symmetric per output
// channel, with one fp16 scale per output channel (reference spec §5.1):
//
//   scale = fp16(f32(max|w_row| / 127))
//   code  = clamp(roundHalfToEven(f32(w / scale)), −127, 127)       (0 when scale is 0)
//   ŵ     = code · scale                                              (exact in float32)
//
// Unlike KV4, codes are computed against the stored (fp16) scale, since that is what the GEMM
// epilogue multiplies by. A row whose largest |w| is below about 4e-6 gets a zero or subnormal
// fp16 scale and loses its values; real checkpoints have no such rows.
import { float16BitsToFloat32, float32ToFloat16Bits } from '../model/float-conversion.js';
import { INT8_MAX_CODE, int8Code } from './int8-activations.js';
import { QuantFormatError } from './quant-errors.js';

/** An int8 linear layer in HF's `[outFeatures, inFeatures]` layout. */
export interface Int8Linear {
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** `[outFeatures, inFeatures]` codes in [−127, 127]. */
  readonly weight: Int8Array;
  /** `[outFeatures]` per-output-channel scales, each a binary16 value held as float32. */
  readonly scale: Float32Array;
}

/**
 * Quantizes `weight` `[outFeatures, inFeatures]` f32 per output channel. `what` names the tensor in
 * errors.
 *
 * @throws QuantFormatError for a size mismatch or a non-finite value (naming row and column).
 */
export function quantizeInt8Linear(
  weight: Float32Array,
  outFeatures: number,
  inFeatures: number,
  what = 'weight',
): Int8Linear {
  if (weight.length !== outFeatures * inFeatures) {
    throw new QuantFormatError(
      `${what} has ${weight.length} values, expected [${outFeatures}, ${inFeatures}]`,
    );
  }
  const codes = new Int8Array(weight.length);
  const scale = new Float32Array(outFeatures);
  for (let o = 0; o < outFeatures; o++) {
    const base = o * inFeatures;
    let amax = 0;
    for (let i = 0; i < inFeatures; i++) {
      const value = weight[base + i]!;
      if (!Number.isFinite(value)) {
        throw new QuantFormatError(`${what} row ${o} holds a non-finite value (${value}) at column ${i}`);
      }
      const magnitude = Math.abs(value);
      if (magnitude > amax) amax = magnitude;
    }
    const rowScale = float16BitsToFloat32(float32ToFloat16Bits(Math.fround(amax / INT8_MAX_CODE)));
    scale[o] = rowScale;
    if (rowScale === 0) continue;
    for (let i = 0; i < inFeatures; i++) codes[base + i] = int8Code(weight[base + i]!, rowScale);
  }
  return { outFeatures, inFeatures, weight: codes, scale };
}

/** `code · scale` per element: the float weight an int8 linear stands for, `[outFeatures, inFeatures]` f32. */
export function dequantizeInt8Linear(linear: Int8Linear): Float32Array {
  const out = new Float32Array(linear.weight.length);
  for (let o = 0; o < linear.outFeatures; o++) {
    const s = linear.scale[o]!;
    const base = o * linear.inFeatures;
    for (let i = 0; i < linear.inFeatures; i++) out[base + i] = linear.weight[base + i]! * s;
  }
  return out;
}

/** Checks an {@link Int8Linear}'s array lengths and codes against its stated shape. */
export function checkInt8Linear(
  linear: Int8Linear,
  outFeatures: number,
  inFeatures: number,
  what: string,
): void {
  const shape = `[${outFeatures}, ${inFeatures}]`;
  if (
    linear === undefined ||
    !(linear.weight instanceof Int8Array) ||
    !(linear.scale instanceof Float32Array)
  ) {
    throw new QuantFormatError(
      `${what} is missing or not an int8 linear (Int8Array weight, Float32Array scale)`,
    );
  }
  if (linear.outFeatures !== outFeatures || linear.inFeatures !== inFeatures) {
    throw new QuantFormatError(`${what} is [${linear.outFeatures}, ${linear.inFeatures}], expected ${shape}`);
  }
  if (linear.weight.length !== outFeatures * inFeatures) {
    throw new QuantFormatError(`${what} weight has ${linear.weight.length} codes, expected ${shape}`);
  }
  if (linear.scale.length !== outFeatures) {
    throw new QuantFormatError(`${what} scale has ${linear.scale.length} values, expected [${outFeatures}]`);
  }
  for (let i = 0; i < linear.weight.length; i++) {
    if (linear.weight[i] === -128) {
      throw new QuantFormatError(
        `${what} weight holds −128 at index ${i}; codes are symmetric in [−127, 127]`,
      );
    }
  }
  for (let o = 0; o < outFeatures; o++) {
    const s = linear.scale[o]!;
    if (!(Number.isFinite(s) && s >= 0)) {
      throw new QuantFormatError(`${what} scale of output channel ${o} is ${s}; expected a finite value ≥ 0`);
    }
  }
}
