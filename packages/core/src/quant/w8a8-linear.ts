// The W8A8 linear layer, simulated exactly: int8 activation codes times int8 weight codes summed in
// integers (what an IMMA GEMM accumulates in int32), then one float32 epilogue per output:
//
//   y[t, o] = f32(f32(f32(acc[t, o]) · wScale[o]) · xScale[t])  (+ bias[o] in float32)
//
// matching y = (x_int8 · W_int8ᵀ) · scale_w[oc] · scale_x[token] (reference spec §5.1), left to right.

import { type Int8Rows, quantizeInt8PerToken } from './int8-activations.js';
import type { Int8Linear } from './int8-weights.js';
import { QuantFormatError } from './quant-errors.js';

/**
 * `x` `[rows, inFeatures]` f32 through `linear`: quantizes each row to int8 (per token, dynamic),
 * multiplies with exact integer accumulation, scales, adds `bias`. Returns `[rows, outFeatures]` f32.
 */
export function linearW8A8(
  x: Float32Array,
  rows: number,
  linear: Int8Linear,
  bias?: Float32Array,
): Float32Array {
  return int8Matmul(quantizeInt8PerToken(x, rows, linear.inFeatures), linear, bias);
}

/** The GEMM and epilogue of {@link linearW8A8} on already-quantized activations. */
export function int8Matmul(x: Int8Rows, linear: Int8Linear, bias?: Float32Array): Float32Array {
  const { inFeatures, outFeatures, weight, scale } = linear;
  if (x.features !== inFeatures) {
    throw new QuantFormatError(
      `int8 GEMM: activations have ${x.features} features, weight takes ${inFeatures}`,
    );
  }
  const out = new Float32Array(x.rows * outFeatures);
  for (let t = 0; t < x.rows; t++) {
    const xBase = t * inFeatures;
    const xScale = x.scales[t]!;
    for (let o = 0; o < outFeatures; o++) {
      const wBase = o * inFeatures;
      // |acc| ≤ 127² · inFeatures < 2^31 for any real width: exact in a double, and in int32.
      let acc = 0;
      for (let i = 0; i < inFeatures; i++) acc += x.codes[xBase + i]! * weight[wBase + i]!;
      const y = Math.fround(Math.fround(Math.fround(acc) * scale[o]!) * xScale);
      out[t * outFeatures + o] = bias === undefined ? y : Math.fround(y + bias[o]!);
    }
  }
  return out;
}
