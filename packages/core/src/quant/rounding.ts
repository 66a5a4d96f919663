// The rounding rules of the quantized formats, each named for what it does, so a kernel that must
// produce the same codes can be checked against one definition.
import { float16BitsToFloat32, float32ToFloat16Bits } from '../model/float-conversion.js';

/**
 * Rounds to the nearest integer, ties away from zero (C `roundf`, CUDA `roundf`): 2.5 → 3,
 * −2.5 → −3. The KV4 codes use it, as the original's `quantize_int4.cu` does.
 */
export function roundHalfAwayFromZero(value: number): number {
  return value < 0 ? -Math.round(-value) : Math.round(value);
}

/**
 * Rounds to the nearest integer, ties to even (`torch.round`, CUDA `__float2int_rn`, `cvt.rni`):
 * 2.5 → 2, 3.5 → 4. The int8 weight and activation codes use it.
 */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest < 0.5) return floor;
  if (rest > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * `value` rounded to IEEE binary16 (nearest even; overflow to ±Infinity), returned as a number.
 * Exact for the results of one +, −, × or ÷ of binary16 operands computed in double: rounding to
 * float32 first is innocuous there (24 ≥ 2·11 + 2 bits).
 */
export function roundToFloat16(value: number): number {
  return float16BitsToFloat32(float32ToFloat16Bits(value));
}
