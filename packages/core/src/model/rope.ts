// RoPE frequencies as transformers 5 computes them (modeling_rope_utils.py and the models' default
// init), so every backend rotates queries and keys exactly like the model was trained and tested.
//
// Precision: transformers builds `inv_freq` with float32 tensor ops (Python scalars enter those ops
// rounded to float32). We replay each of those ops and round with Math.fround, so the values we return
// are the float32 values transformers holds, stored in a Float64Array. The one op we cannot replay
// bit for bit is float32 `pow`, which torch computes to about 1 ulp; results agree to ~1e-7 relative.
// Scalar-only steps (yarn's correction range and attention factor, the dynamic-NTK base at init) are
// float64 in Python, and float64 here.
//
// Convention ("rotate half", GPT-NeoX style, what HF Llama/Mistral/Qwen2 use): frequency j (0 <= j <
// headDim/2) rotates the pair (x[j], x[j + headDim/2]), not adjacent elements. With angle
// a = position * inverseFrequencies[j], c = cos(a) * attentionScaling, s = sin(a) * attentionScaling:
//   x'[j]             = x[j] * c - x[j + headDim/2] * s
//   x'[j + headDim/2] = x[j + headDim/2] * c + x[j] * s
import { RopeParameterError } from './model-errors.js';
import type { RopeConfig } from './model-types.js';

/** The result of a RoPE init function. */
export interface RopeFrequencies {
  /** `[headDim / 2]`: the angle of pair j at position p is `p * inverseFrequencies[j]` (float32 values). */
  readonly inverseFrequencies: Float64Array;
  /** Multiplies cos and sin (yarn's mscale; 1 for the other types). */
  readonly attentionScaling: number;
}

const f32 = Math.fround;

/**
 * Inverse frequencies and attention scaling of one RoPE config, as transformers' init functions
 * compute them:
 *
 * - default: `1 / θ^(2j/d)` for j in [0, d/2).
 * - linear: default divided by `factor`.
 * - dynamic (NTK): with L = `originalMaxPositionEmbeddings` (set by {@link parseModelConfig} to
 *   `max_position_embeddings`, which transformers' dynamic function uses) and s = max(seqLen, L):
 *   θ' = θ · (factor·s/L − (factor − 1))^(d/(d−2)), then default with θ'. With s = L that is θ itself.
 *   transformers computes the init buffer (seqLen absent or <= L) in float64 scalars, but a runtime
 *   recomputation (seqLen > L, seqLen being a tensor there) in float32 tensor ops; both are replayed.
 *   Which seqLen transformers uses at a forward pass is stateful; see {@link dynamicRopeLength}.
 * - llama3: wavelength w = 2π / default; w > L/lowFreqFactor (low frequencies): divided by factor;
 *   w < L/highFreqFactor (high frequencies): unchanged; in between, with
 *   k = (L/w − lowFreqFactor) / (highFreqFactor − lowFreqFactor): (1−k)·f/factor + k·f. Here L is
 *   `originalMaxPositionEmbeddings`.
 * - yarn: per pair, a blend of f/factor (interpolation) and f (extrapolation). The correction
 *   range [lo, hi] is where a pair turns `betaFast` resp. `betaSlow` times over L positions:
 *   dim(r) = d·ln(L / (2πr)) / (2 ln θ), floored/ceiled when `truncate` (default true), clamped to
 *   [0, d−1]; ramp(j) = clamp((j − lo)/(hi − lo), 0, 1) (hi += 0.001 when equal); the weight of
 *   extrapolation is 1 − ramp(j). attentionScaling = `attentionFactor` if given, else
 *   m(factor, mscale)/m(factor, mscaleAllDim) when both are non-zero, else m(factor, 1), with
 *   m(s, k) = 1 when s <= 1, else 0.1·k·ln(s) + 1.
 *
 * @param headDim rotary size d (the whole head; partial RoPE is not supported). Must be even.
 * @param seqLen only for dynamic: the sequence length transformers would pass (max position + 1).
 * @throws RopeParameterError for an odd head size, a bad seqLen, or a config missing fields its type needs.
 */
export function ropeFrequencies(rope: RopeConfig, headDim: number, seqLen?: number): RopeFrequencies {
  if (!Number.isSafeInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new RopeParameterError(`headDim must be a positive even integer, got ${headDim}`);
  }
  if (seqLen !== undefined && (!Number.isSafeInteger(seqLen) || seqLen <= 0)) {
    throw new RopeParameterError(`seqLen must be a positive integer, got ${seqLen}`);
  }
  if (!(rope.theta > 0)) throw new RopeParameterError(`RoPE theta must be positive, got ${rope.theta}`);
  switch (rope.type) {
    case 'default':
      return { inverseFrequencies: defaultInverseFrequencies(rope.theta, headDim), attentionScaling: 1 };
    case 'linear': {
      const factor = f32(need(rope, 'factor'));
      const inverse = defaultInverseFrequencies(rope.theta, headDim);
      for (let j = 0; j < inverse.length; j++) inverse[j] = f32(inverse[j]! / factor);
      return { inverseFrequencies: inverse, attentionScaling: 1 };
    }
    case 'dynamic':
      return { inverseFrequencies: dynamicInverseFrequencies(rope, headDim, seqLen), attentionScaling: 1 };
    case 'llama3':
      return { inverseFrequencies: llama3InverseFrequencies(rope, headDim), attentionScaling: 1 };
    case 'yarn':
      return yarnFrequencies(rope, headDim);
    default:
      throw new RopeParameterError(`unsupported RoPE type ${JSON.stringify((rope as RopeConfig).type)}`);
  }
}

/**
 * The sequence length transformers' dynamic-NTK RoPE uses after a forward pass, given the one it used
 * before (`cachedLength`, initially `maxPositionEmbeddings`) and this pass's `seqLen` (its largest
 * position + 1). transformers only grows the length (recomputing frequencies for `seqLen` when it
 * exceeds `cachedLength`) and resets it to `maxPositionEmbeddings` when a pass is shorter than that
 * while the cached length is longer. Keys already in a KV cache keep the rotation they got, so after
 * the context passes `maxPositionEmbeddings` each chunk of a long prompt is rotated with frequencies
 * of a different length. Pass the result to {@link ropeFrequencies} as `seqLen`.
 */
export function dynamicRopeLength(
  cachedLength: number,
  seqLen: number,
  maxPositionEmbeddings: number,
): number {
  if (seqLen > cachedLength) return seqLen;
  if (seqLen < maxPositionEmbeddings && cachedLength > maxPositionEmbeddings) return maxPositionEmbeddings;
  return cachedLength;
}

/**
 * Fills `cos` and `sin` (`[headDim / 2]` f32 each) for one position, as transformers' rotary forward
 * does: angle = f32(position · invFreq) (a float32 matmul), cos/sin in float32, times attentionScaling.
 */
export function ropeCosSin(
  frequencies: RopeFrequencies,
  position: number,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const inverse = frequencies.inverseFrequencies;
  if (cos.length < inverse.length || sin.length < inverse.length) {
    throw new RopeParameterError(
      `cos/sin need ${inverse.length} elements, got ${cos.length} and ${sin.length}`,
    );
  }
  const scaling = f32(frequencies.attentionScaling);
  const p = f32(position);
  for (let j = 0; j < inverse.length; j++) {
    const angle = f32(p * inverse[j]!);
    cos[j] = f32(Math.cos(angle)) * scaling;
    sin[j] = f32(Math.sin(angle)) * scaling;
  }
}

/**
 * Rotates one head vector in place by the rotate-half convention: pair j is
 * (vec[offset + j], vec[offset + j + headDim/2]), rotated by the angle whose (scaled) cosine and sine
 * are `cos[j]`, `sin[j]` (`[headDim / 2]`, from {@link ropeCosSin}).
 *
 * @param vec a row holding the head at `offset`, e.g. one query row `[numHeads * headDim]` f32.
 */
export function rotateHalfInPlace(
  vec: Float32Array,
  offset: number,
  headDim: number,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const half = headDim >> 1;
  if (offset < 0 || offset + headDim > vec.length) {
    throw new RopeParameterError(
      `head at offset ${offset} of size ${headDim} exceeds a vector of ${vec.length}`,
    );
  }
  for (let j = 0; j < half; j++) {
    const x1 = vec[offset + j]!;
    const x2 = vec[offset + j + half]!;
    const c = cos[j]!;
    const s = sin[j]!;
    vec[offset + j] = x1 * c - x2 * s;
    vec[offset + j + half] = x2 * c + x1 * s;
  }
}

/**
 * {@link ropeCosSin} then {@link rotateHalfInPlace} for one head at one position. Convenient in
 * tests and reference code; hot loops should compute cos/sin once per position and reuse them.
 */
export function applyRopeInPlace(
  vec: Float32Array,
  offset: number,
  headDim: number,
  position: number,
  frequencies: RopeFrequencies,
): void {
  if (frequencies.inverseFrequencies.length * 2 !== headDim) {
    throw new RopeParameterError(
      `frequencies are for headDim ${frequencies.inverseFrequencies.length * 2}, got headDim ${headDim}`,
    );
  }
  const cos = new Float32Array(headDim >> 1);
  const sin = new Float32Array(headDim >> 1);
  ropeCosSin(frequencies, position, cos, sin);
  rotateHalfInPlace(vec, offset, headDim, cos, sin);
}

/** `1 / θ^(2j/d)` in float32 steps: exponent f32(2j/d), f32 pow, f32 reciprocal. */
function defaultInverseFrequencies(theta: number, headDim: number): Float64Array {
  const inverse = new Float64Array(headDim / 2);
  const base = f32(theta);
  for (let j = 0; j < inverse.length; j++) {
    inverse[j] = f32(1 / f32(base ** f32((2 * j) / headDim)));
  }
  return inverse;
}

function dynamicInverseFrequencies(
  rope: RopeConfig,
  headDim: number,
  seqLen: number | undefined,
): Float64Array {
  const factor = need(rope, 'factor');
  const length = need(rope, 'originalMaxPositionEmbeddings');
  if (headDim < 4) throw new RopeParameterError(`dynamic RoPE needs headDim >= 4, got ${headDim}`);
  const exponent = headDim / (headDim - 2);
  let base: number;
  if (seqLen === undefined || seqLen <= length) {
    // Init: Python scalars (float64), seq_len = max_position_embeddings.
    base = rope.theta * ((factor * length) / length - (factor - 1)) ** exponent;
  } else {
    // Runtime recomputation: seq_len is an int64 tensor, so each step is a float32 tensor op.
    let scale = f32(f32(factor) * f32(seqLen));
    scale = f32(scale / f32(length));
    scale = f32(scale - f32(factor - 1));
    scale = f32(scale ** f32(exponent));
    base = f32(f32(rope.theta) * scale);
  }
  return defaultInverseFrequencies(base, headDim);
}

function llama3InverseFrequencies(rope: RopeConfig, headDim: number): Float64Array {
  const factor = f32(need(rope, 'factor'));
  const lowFreqFactor = need(rope, 'lowFreqFactor');
  const highFreqFactor = need(rope, 'highFreqFactor');
  const oldContext = need(rope, 'originalMaxPositionEmbeddings');
  const lowFreqWavelength = f32(oldContext / lowFreqFactor);
  const highFreqWavelength = f32(oldContext / highFreqFactor);
  const twoPi = f32(2 * Math.PI);
  const inverse = defaultInverseFrequencies(rope.theta, headDim);
  for (let j = 0; j < inverse.length; j++) {
    const frequency = inverse[j]!;
    // Python `scalar / tensor` is `tensor.reciprocal() * scalar`.
    const wavelength = f32(f32(1 / frequency) * twoPi);
    if (wavelength > lowFreqWavelength) {
      inverse[j] = f32(frequency / factor);
    } else if (!(wavelength < highFreqWavelength)) {
      let smooth = f32(f32(1 / wavelength) * f32(oldContext));
      smooth = f32(smooth - f32(lowFreqFactor));
      smooth = f32(smooth / f32(highFreqFactor - lowFreqFactor));
      const interpolated = f32(f32(f32(1 - smooth) * frequency) / factor);
      inverse[j] = f32(interpolated + f32(smooth * frequency));
    }
  }
  return inverse;
}

function yarnFrequencies(rope: RopeConfig, headDim: number): RopeFrequencies {
  const factor = need(rope, 'factor');
  const originalLength = need(rope, 'originalMaxPositionEmbeddings');
  const betaFast = rope.betaFast || 32;
  const betaSlow = rope.betaSlow || 1;
  const truncate = rope.truncate ?? true;

  const mscale = (scale: number, k: number): number => (scale <= 1 ? 1 : 0.1 * k * Math.log(scale) + 1);
  let attentionScaling: number;
  if (rope.attentionFactor !== undefined) attentionScaling = rope.attentionFactor;
  else if (rope.mscale && rope.mscaleAllDim) {
    attentionScaling = mscale(factor, rope.mscale) / mscale(factor, rope.mscaleAllDim);
  } else attentionScaling = mscale(factor, 1);

  const correctionDim = (rotations: number): number =>
    (headDim * Math.log(originalLength / (rotations * 2 * Math.PI))) / (2 * Math.log(rope.theta));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, headDim - 1);
  if (low === high) high += 0.001;
  const rampLow = f32(low);
  const rampSpan = f32(high - low);

  const base = f32(rope.theta);
  const factor32 = f32(factor);
  const inverse = new Float64Array(headDim / 2);
  for (let j = 0; j < inverse.length; j++) {
    const positionFrequency = f32(base ** f32((2 * j) / headDim));
    const extrapolation = f32(1 / positionFrequency);
    const interpolation = f32(1 / f32(factor32 * positionFrequency));
    const ramp = Math.min(Math.max(f32(f32(j - rampLow) / rampSpan), 0), 1);
    const extrapolationWeight = f32(1 - ramp);
    inverse[j] = f32(
      f32(interpolation * f32(1 - extrapolationWeight)) + f32(extrapolation * extrapolationWeight),
    );
  }
  return { inverseFrequencies: inverse, attentionScaling };
}

function need<K extends keyof RopeConfig>(rope: RopeConfig, key: K): NonNullable<RopeConfig[K]> {
  const value = rope[key];
  if (value === undefined || value === null) {
    throw new RopeParameterError(`RoPE type "${rope.type}" needs "${key}"`);
  }
  return value as NonNullable<RopeConfig[K]>;
}
