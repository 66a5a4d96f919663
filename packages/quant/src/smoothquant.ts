// SmoothQuant smoothing (Xiao et al. 2023, as its smooth.py does for Llama): per input channel j of
// the linears that read an RMSNorm's output,
//
//   s_j = max(max|X_j|^α / max(max_rows |W_{·j}|, 1e-5)^(1−α), 1e-5)
//
// with max|W_{·j}| taken over all of those linears (q|k|v, or gate|up) together. The norm weight is
// divided by s and each linear's column j multiplied by it, so the float model computes the same
// function while activation outliers move into the weights. o_proj and down_proj are not smoothed.
import type { LayerWeights, ModelConfig, ModelWeights } from '@duo-attn/core';
import type { LayerActivationScales } from './calibrate.js';
import { QuantOptionsError } from './quant-errors.js';

/** SmoothQuant's migration strength α (0.5: split the difficulty evenly). */
export const DEFAULT_SMOOTHQUANT_ALPHA = 0.5;
/** Floor of the weight maxima and of the smoothing factors (SmoothQuant's clamp). */
export const SMOOTHING_FLOOR = 1e-5;

/** One layer's smoothing factors, `[hiddenSize]` f32 each. */
export interface LayerSmoothing {
  /** Folded into input_layernorm and q|k|v. */
  readonly qkv: Float32Array;
  /** Folded into post_attention_layernorm and gate|up. */
  readonly gateUp: Float32Array;
}

/**
 * The factors `s` for one norm: `activationMax` `[inFeatures]` and the `[out, inFeatures]` weights of
 * the linears that read it.
 */
export function smoothingFactors(
  activationMax: Float32Array,
  weights: readonly Float32Array[],
  inFeatures: number,
  alpha: number,
): Float32Array {
  checkAlpha(alpha);
  if (activationMax.length !== inFeatures) {
    throw new QuantOptionsError(
      `activation maxima have ${activationMax.length} channels, expected ${inFeatures}`,
    );
  }
  const weightMax = new Float32Array(inFeatures);
  for (const weight of weights) {
    for (let base = 0; base < weight.length; base += inFeatures) {
      for (let j = 0; j < inFeatures; j++) {
        const magnitude = Math.abs(weight[base + j]!);
        if (magnitude > weightMax[j]!) weightMax[j] = magnitude;
      }
    }
  }
  const factors = new Float32Array(inFeatures);
  for (let j = 0; j < inFeatures; j++) {
    const w = Math.max(weightMax[j]!, SMOOTHING_FLOOR);
    const s = Math.fround(activationMax[j]! ** alpha / Math.fround(w ** (1 - alpha)));
    factors[j] = Math.max(s, SMOOTHING_FLOOR);
  }
  return factors;
}

/** The smoothing factors of every layer from calibrated activation maxima. */
export function smoothingForModel(
  config: ModelConfig,
  weights: ModelWeights,
  activationScales: readonly LayerActivationScales[],
  alpha = DEFAULT_SMOOTHQUANT_ALPHA,
): LayerSmoothing[] {
  if (activationScales.length !== config.numLayers) {
    throw new QuantOptionsError(
      `activation scales cover ${activationScales.length} layers, the model has ${config.numLayers}`,
    );
  }
  return weights.layers.map((layer, index) => ({
    qkv: smoothingFactors(
      activationScales[index]!.qkv,
      [layer.qProj, layer.kProj, layer.vProj],
      config.hiddenSize,
      alpha,
    ),
    gateUp: smoothingFactors(
      activationScales[index]!.gateUp,
      [layer.gateProj, layer.upProj],
      config.hiddenSize,
      alpha,
    ),
  }));
}

/**
 * New weights with the smoothing folded in: norm weights divided by `s`, the columns of q|k|v and
 * gate|up multiplied by it (float32, as torch's in-place `div_`/`mul_`). Inputs are not mutated;
 * untouched tensors are shared.
 */
export function applySmoothing(
  config: ModelConfig,
  weights: ModelWeights,
  smoothing: readonly LayerSmoothing[],
): ModelWeights {
  if (smoothing.length !== config.numLayers) {
    throw new QuantOptionsError(
      `smoothing covers ${smoothing.length} layers, the model has ${config.numLayers}`,
    );
  }
  const h = config.hiddenSize;
  const layers = weights.layers.map((layer, index): LayerWeights => {
    const { qkv, gateUp } = smoothing[index]!;
    return {
      ...layer,
      inputNorm: divide(layer.inputNorm, qkv),
      qProj: scaleColumns(layer.qProj, qkv, h),
      kProj: scaleColumns(layer.kProj, qkv, h),
      vProj: scaleColumns(layer.vProj, qkv, h),
      postAttentionNorm: divide(layer.postAttentionNorm, gateUp),
      gateProj: scaleColumns(layer.gateProj, gateUp, h),
      upProj: scaleColumns(layer.upProj, gateUp, h),
    };
  });
  return { ...weights, layers };
}

function divide(norm: Float32Array, factors: Float32Array): Float32Array {
  return norm.map((value, j) => value / factors[j]!);
}

function scaleColumns(weight: Float32Array, factors: Float32Array, inFeatures: number): Float32Array {
  return weight.map((value, index) => value * factors[index % inFeatures]!);
}

function checkAlpha(alpha: number): void {
  if (!(Number.isFinite(alpha) && alpha >= 0 && alpha <= 1)) {
    throw new QuantOptionsError(`SmoothQuant alpha must be in [0, 1] (got ${alpha})`);
  }
}
