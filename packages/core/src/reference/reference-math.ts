// The few numeric kernels of the reference backend, as plain loops over float32 arrays with double
// accumulators. Kept separate so each is small enough to check by eye.

/**
 * `out[t, o] = sum_i x[t, i] * weight[o, i] + bias[o]`: a linear layer in HF's `[out, in]` layout.
 * `x` `[rows, inFeatures]` f32, `weight` `[outFeatures, inFeatures]` f32 → `[rows, outFeatures]` f32.
 */
export function linear(
  x: Float32Array,
  rows: number,
  weight: Float32Array,
  inFeatures: number,
  outFeatures: number,
  bias?: Float32Array,
): Float32Array {
  const out = new Float32Array(rows * outFeatures);
  for (let t = 0; t < rows; t++) {
    const xBase = t * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wBase = o * inFeatures;
      const sum = dot(x, xBase, weight, wBase, inFeatures);
      out[t * outFeatures + o] = bias === undefined ? sum : sum + bias[o]!;
    }
  }
  return out;
}

/**
 * `sum_i a[aBase + i] * b[bBase + i]` over `length` elements, in double precision. Four partial sums
 * let V8 overlap the multiply-adds (about 2x faster than one running sum); the order of additions
 * differs from a single sum only at the 1e-16 level.
 */
export function dot(a: Float32Array, aBase: number, b: Float32Array, bBase: number, length: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    s0 += a[aBase + i]! * b[bBase + i]!;
    s1 += a[aBase + i + 1]! * b[bBase + i + 1]!;
    s2 += a[aBase + i + 2]! * b[bBase + i + 2]!;
    s3 += a[aBase + i + 3]! * b[bBase + i + 3]!;
  }
  for (; i < length; i++) s0 += a[aBase + i]! * b[bBase + i]!;
  return s0 + s1 + (s2 + s3);
}

/**
 * RMSNorm as HF computes it: `x * rsqrt(mean(x^2) + eps)` in f32, then times the weight.
 * `x` `[rows, size]` f32 → new `[rows, size]` f32.
 */
export function rmsNorm(
  x: Float32Array,
  rows: number,
  size: number,
  weight: Float32Array,
  eps: number,
): Float32Array {
  const out = new Float32Array(rows * size);
  for (let t = 0; t < rows; t++) {
    const base = t * size;
    let sumSquares = 0;
    for (let i = 0; i < size; i++) sumSquares += x[base + i]! * x[base + i]!;
    const inverse = Math.fround(1 / Math.sqrt(Math.fround(sumSquares / size) + eps));
    for (let i = 0; i < size; i++) out[base + i] = Math.fround(x[base + i]! * inverse) * weight[i]!;
  }
  return out;
}

/** `x * sigmoid(x)`. */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/**
 * Rotates, in place, every head of `x` `[rows, numHeads, headDim]` f32 by rotate-half RoPE
 * (dimension `i` pairs with `i + headDim/2`). `cos`/`sin` are `[rows, headDim/2]` f32.
 */
export function applyRope(
  x: Float32Array,
  rows: number,
  numHeads: number,
  headDim: number,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < numHeads; h++) {
      const base = (t * numHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[t * half + i]!;
        const s = sin[t * half + i]!;
        const a = x[base + i]!;
        const b = x[base + i + half]!;
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}
