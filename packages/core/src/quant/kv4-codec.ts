// The 4-bit KV cache format (DESIGN §5, reference spec §5.2): one group per (token, KV head) holds
// that head's `headDim` values as asymmetric 4-bit codes with an fp16 scale and an fp16 zero. It
// reproduces the original's quantize_int4.cu bit for bit (without its fast-math division):
//
//   min, max     over the group, float32
//   scale32      = f32(f32(f32(max − min) / 15) + f32(1e-8))
//   code         = clamp(roundHalfAwayFromZero(f32(f32(x − min) / scale32)), 0, 15)
//   scale, zero  = fp16(scale32), fp16(min)            (what is stored)
//   x̂            = fp16(fp16(code · scale) + zero)       (dequantization, fp16 arithmetic)
//
// Codes are computed from the float32 scale and min, not from their fp16 roundings: fp16 rounding
// enters only dequantization. Two codes share a byte: element 2i in the high nibble, 2i+1 in the
// low nibble (x = [−1, −0.5, …] with codes [0, 2, …] packs as 0x02, …).

import { float16BitsToFloat32, float32ToFloat16Bits } from '../model/float-conversion.js';
import { QuantFormatError } from './quant-errors.js';
import { roundHalfAwayFromZero, roundToFloat16 } from './rounding.js';

/** Largest 4-bit code; `scale = (max − min) / KV4_MAX_CODE`. */
export const KV4_MAX_CODE = 15;
/** Added to every scale (in float32) so a constant group divides by a non-zero number. */
export const KV4_SCALE_EPSILON = Math.fround(1e-8);

/**
 * Groups in KV4 form: `codes` `[groups, groupSize / 2]` bytes, `scales` and `zeros` `[groups]`
 * binary16 bits. A cache stores one of these per K and per V, group index `token * heads + head`.
 */
export interface Kv4Groups {
  readonly groupSize: number;
  readonly codes: Uint8Array;
  readonly scales: Uint16Array;
  readonly zeros: Uint16Array;
}

/** Empty storage for `groups` groups of `groupSize` values (`groupSize` even). */
export function allocateKv4Groups(groups: number, groupSize: number): Kv4Groups {
  checkGroupSize(groupSize);
  if (!Number.isSafeInteger(groups) || groups < 0) {
    throw new QuantFormatError(`KV4 group count must be a non-negative integer (got ${groups})`);
  }
  return {
    groupSize,
    codes: new Uint8Array((groups * groupSize) / 2),
    scales: new Uint16Array(groups),
    zeros: new Uint16Array(groups),
  };
}

/** Copies groups `from .. from + count` of `source` to `to .. to + count` of `target` (same group size). */
export function copyKv4Groups(
  source: Kv4Groups,
  from: number,
  target: Kv4Groups,
  to: number,
  count: number,
): void {
  if (source.groupSize !== target.groupSize) {
    throw new QuantFormatError(`KV4 copy between group sizes ${source.groupSize} and ${target.groupSize}`);
  }
  if (from < 0 || to < 0 || from + count > source.scales.length || to + count > target.scales.length) {
    throw new QuantFormatError(
      `KV4 copy of ${count} groups from ${from} (of ${source.scales.length}) to ${to} (of ${target.scales.length}) is out of range`,
    );
  }
  const half = source.groupSize / 2;
  target.codes.set(source.codes.subarray(from * half, (from + count) * half), to * half);
  target.scales.set(source.scales.subarray(from, from + count), to);
  target.zeros.set(source.zeros.subarray(from, from + count), to);
}

/** Bytes one group takes: packed codes plus fp16 scale and zero. */
export function kv4GroupBytes(groupSize: number): number {
  checkGroupSize(groupSize);
  return groupSize / 2 + 4;
}

/**
 * Quantizes `count` consecutive groups of `source` starting at value `sourceOffset` into groups
 * `group .. group + count` of `target`.
 *
 * @throws QuantFormatError for a non-finite value (naming the group) or out-of-range indices.
 */
export function quantizeKv4Into(
  source: Float32Array,
  sourceOffset: number,
  count: number,
  target: Kv4Groups,
  group: number,
): void {
  const size = target.groupSize;
  if (sourceOffset < 0 || sourceOffset + count * size > source.length) {
    throw new QuantFormatError(
      `KV4 source has ${source.length} values; groups of ${size} from ${sourceOffset} × ${count} do not fit`,
    );
  }
  if (group < 0 || group + count > target.scales.length) {
    throw new QuantFormatError(
      `KV4 target holds ${target.scales.length} groups; cannot write ${count} from group ${group}`,
    );
  }
  for (let g = 0; g < count; g++) {
    const base = sourceOffset + g * size;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < size; i++) {
      const x = source[base + i]!;
      if (!Number.isFinite(x)) {
        throw new QuantFormatError(`KV4 group ${group + g} holds a non-finite value (${x}) at element ${i}`);
      }
      if (x < min) min = x;
      if (x > max) max = x;
    }
    const scale = Math.fround(Math.fround(Math.fround(max - min) / KV4_MAX_CODE) + KV4_SCALE_EPSILON);
    const codeBase = ((group + g) * size) / 2;
    for (let i = 0; i < size; i += 2) {
      const high = kv4Code(source[base + i]!, min, scale);
      const low = kv4Code(source[base + i + 1]!, min, scale);
      target.codes[codeBase + i / 2] = (high << 4) | low;
    }
    target.scales[group + g] = float32ToFloat16Bits(scale);
    target.zeros[group + g] = float32ToFloat16Bits(min);
  }
}

/** Quantizes `values` (a whole number of groups of `groupSize`) into new KV4 storage. */
export function quantizeKv4(values: Float32Array, groupSize: number): Kv4Groups {
  checkGroupSize(groupSize);
  if (values.length % groupSize !== 0) {
    throw new QuantFormatError(
      `KV4 input of ${values.length} values is not a whole number of ${groupSize}-value groups`,
    );
  }
  const groups = values.length / groupSize;
  const out = allocateKv4Groups(groups, groupSize);
  quantizeKv4Into(values, 0, groups, out, 0);
  return out;
}

/**
 * Dequantizes group `group` of `source` into `target[targetOffset .. targetOffset + groupSize)`:
 * `fp16(fp16(code · scale) + zero)` per element (every result is a binary16 value).
 */
export function dequantizeKv4Group(
  source: Kv4Groups,
  group: number,
  target: Float32Array,
  targetOffset: number,
): void {
  const size = source.groupSize;
  const scale = float16BitsToFloat32(source.scales[group]!);
  const zero = float16BitsToFloat32(source.zeros[group]!);
  // A group has only 16 distinct results: compute each once.
  const levels = levelScratch;
  for (let code = 0; code <= KV4_MAX_CODE; code++)
    levels[code] = roundToFloat16(roundToFloat16(code * scale) + zero);
  const codeBase = (group * size) / 2;
  for (let i = 0; i < size; i += 2) {
    const byte = source.codes[codeBase + i / 2]!;
    target[targetOffset + i] = levels[byte >>> 4]!;
    target[targetOffset + i + 1] = levels[byte & 0x0f]!;
  }
}

const levelScratch = new Float32Array(KV4_MAX_CODE + 1);

/** Dequantizes every group of `source` into a new `[groups * groupSize]` array. */
export function dequantizeKv4(source: Kv4Groups): Float32Array {
  const groups = source.scales.length;
  const out = new Float32Array(groups * source.groupSize);
  for (let g = 0; g < groups; g++) dequantizeKv4Group(source, g, out, g * source.groupSize);
  return out;
}

/** The code of one value: `clamp(roundHalfAwayFromZero(f32(f32(x − min) / scale)), 0, 15)`. */
function kv4Code(x: number, min: number, scale: number): number {
  const code = roundHalfAwayFromZero(Math.fround(Math.fround(x - min) / scale));
  return Math.min(Math.max(code, 0), KV4_MAX_CODE);
}

function checkGroupSize(groupSize: number): void {
  if (!Number.isSafeInteger(groupSize) || groupSize <= 0 || groupSize % 2 !== 0) {
    throw new QuantFormatError(`KV4 group size must be a positive even integer (got ${groupSize})`);
  }
}
