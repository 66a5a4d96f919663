// Half-precision <-> float32 conversion for checkpoints: the reader widens F16/BF16 to float32, the
// writer narrows with round-to-nearest-even (what torch's `.to(float16/bfloat16)` does), keeping NaN a
// NaN and overflowing to infinity.

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** The IEEE-754 bits of `value` rounded to float32. */
export function float32Bits(value: number): number {
  scratchFloat[0] = value;
  return scratchBits[0]!;
}

/** The float32 whose bits are `bits` (a uint32). */
export function float32FromBits(bits: number): number {
  scratchBits[0] = bits;
  return scratchFloat[0]!;
}

/** float32 -> IEEE binary16 bits, round to nearest even; subnormals kept, overflow to ±Inf. */
export function float32ToFloat16Bits(value: number): number {
  const bits = float32Bits(value);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and stays quiet.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 112; // rebias 127 -> 15
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // A binary16 subnormal (or zero): shift the full significand into the 10-bit field.
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    let half = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** IEEE binary16 bits -> float32 value (exact). */
export function float16BitsToFloat32(bits: number): number {
  return float32FromBits(float16BitsToFloat32Bits(bits));
}

/** float32 -> bfloat16 bits (the top 16 bits of float32), round to nearest even. */
export function float32ToBfloat16Bits(value: number): number {
  const bits = float32Bits(value);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** bfloat16 bits -> float32 value (exact). */
export function bfloat16BitsToFloat32(bits: number): number {
  return float32FromBits((bits & 0xffff) << 16);
}

let float16Table: Float32Array | undefined;

/**
 * Widens binary16 bits to float32: `out[outOffset + i] = f16(source[i])`. Uses a 256 KiB table built
 * on first use.
 */
export function float16ToFloat32Array(source: Uint16Array, out: Float32Array, outOffset = 0): void {
  checkRange(source.length, out.length, outOffset);
  if (float16Table === undefined) {
    const table = new Float32Array(0x10000);
    const tableBits = new Uint32Array(table.buffer);
    for (let h = 0; h < 0x10000; h++) tableBits[h] = float16BitsToFloat32Bits(h);
    float16Table = table;
  }
  const table = float16Table;
  for (let i = 0; i < source.length; i++) out[outOffset + i] = table[source[i]!]!;
}

/** Widens bfloat16 bits to float32: `out[outOffset + i] = bf16(source[i])`. */
export function bfloat16ToFloat32Array(source: Uint16Array, out: Float32Array, outOffset = 0): void {
  checkRange(source.length, out.length, outOffset);
  const outBits = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, source.length);
  for (let i = 0; i < source.length; i++) outBits[i] = source[i]! << 16;
}

/** Narrows float32 to binary16 bits, round to nearest even. */
export function float32ToFloat16Array(
  source: Float32Array,
  out: Uint16Array = new Uint16Array(source.length),
): Uint16Array {
  checkRange(source.length, out.length, 0);
  for (let i = 0; i < source.length; i++) out[i] = float32ToFloat16Bits(source[i]!);
  return out;
}

/** Narrows float32 to bfloat16 bits, round to nearest even. */
export function float32ToBfloat16Array(
  source: Float32Array,
  out: Uint16Array = new Uint16Array(source.length),
): Uint16Array {
  checkRange(source.length, out.length, 0);
  const bits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let i = 0; i < source.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) out[i] = (b >>> 16) | 0x40;
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal: normalise into float32's range.
  let e = 113;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

function checkRange(sourceLength: number, outLength: number, outOffset: number): void {
  if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + sourceLength > outLength) {
    throw new RangeError(
      `${sourceLength} values at offset ${outOffset} do not fit an output of ${outLength}`,
    );
  }
}
