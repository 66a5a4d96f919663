// A8: activations quantized to int8 per token (one row of a `[rows, features]` matrix), symmetric,
// with the scale computed from the row itself at run time (dynamic):
//
//   scale = f32(max|x| / 127)
//   code  = clamp(roundHalfToEven(f32(x / scale)), −127, 127)      (0 for an all-zero row)
//
// The scale stays float32: it never leaves the device, so there is nothing to gain from fp16.
import { QuantFormatError } from './quant-errors.js';
import { roundHalfToEven } from './rounding.js';

/** Largest int8 code in magnitude; −128 is never produced, so the range is symmetric. */
export const INT8_MAX_CODE = 127;

/** Per-token int8 activations: `codes` `[rows, features]`, `scales` `[rows]` float32. */
export interface Int8Rows {
  readonly rows: number;
  readonly features: number;
  readonly codes: Int8Array;
  readonly scales: Float32Array;
}

/**
 * Quantizes each row of `x` `[rows, features]` f32 to int8 with its own scale.
 *
 * @throws QuantFormatError for a non-finite value (naming row and column) or a size mismatch.
 */
export function quantizeInt8PerToken(x: Float32Array, rows: number, features: number): Int8Rows {
  if (x.length !== rows * features) {
    throw new QuantFormatError(`activations have ${x.length} values, expected [${rows}, ${features}]`);
  }
  const codes = new Int8Array(rows * features);
  const scales = new Float32Array(rows);
  for (let t = 0; t < rows; t++) {
    const base = t * features;
    let amax = 0;
    for (let i = 0; i < features; i++) {
      const value = x[base + i]!;
      if (!Number.isFinite(value)) {
        throw new QuantFormatError(`activation row ${t} holds a non-finite value (${value}) at column ${i}`);
      }
      const magnitude = Math.abs(value);
      if (magnitude > amax) amax = magnitude;
    }
    const scale = Math.fround(amax / INT8_MAX_CODE);
    scales[t] = scale;
    if (scale === 0) continue;
    for (let i = 0; i < features; i++) codes[base + i] = int8Code(x[base + i]!, scale);
  }
  return { rows, features, codes, scales };
}

/** `clamp(roundHalfToEven(f32(value / scale)), −127, 127)` for a positive `scale`. */
export function int8Code(value: number, scale: number): number {
  const code = roundHalfToEven(Math.fround(value / scale));
  return Math.min(Math.max(code, -INT8_MAX_CODE), INT8_MAX_CODE);
}
