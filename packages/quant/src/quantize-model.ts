// W8A8 quantization of a whole model: calibrate activation maxima on a few sequences, fold the
// SmoothQuant factors into the RMSNorms and q|k|v / gate|up, then quantize all seven linears of each
// layer to int8 per output channel. The result is a ModelSource a W8A8 backend loads directly.
import { dequantizedWeights, type ModelSource, quantizeLayerLinears, type W8A8Weights } from '@duo-attn/core';
import { type CalibrationProgress, collectActivationScales } from './calibrate.js';
import { QuantOptionsError } from './quant-errors.js';
import {
  applySmoothing,
  DEFAULT_SMOOTHQUANT_ALPHA,
  type LayerSmoothing,
  smoothingForModel,
} from './smoothquant.js';

/** Progress of {@link quantizeModelW8A8}: calibration per sequence, then quantization per layer. */
export type QuantizeProgress =
  | ({ readonly stage: 'calibrate' } & CalibrationProgress)
  | { readonly stage: 'quantize'; readonly layersDone: number; readonly layers: number };

/** Options of {@link quantizeModelW8A8}. */
export interface QuantizeOptions {
  /** Token-id sequences run through the reference backend to find activation maxima. */
  readonly calibration: readonly (readonly number[])[];
  /** SmoothQuant α in [0, 1] (default 0.5). */
  readonly alpha?: number;
  readonly onProgress?: (progress: QuantizeProgress) => void;
  readonly signal?: AbortSignal;
}

/** How a W8A8 model was made, recorded in its checkpoint. */
export interface W8A8Provenance {
  readonly alpha: number;
  readonly calibrationSequences: number;
  readonly calibrationTokens: number;
}

/** A W8A8 model: a ModelSource with `w8a8`, plus the smoothing that was folded in. */
export interface QuantizedModel extends ModelSource {
  readonly w8a8: W8A8Weights;
  readonly provenance: W8A8Provenance;
  /** Factors folded into the norms and linears (informational; not needed to run the model). */
  readonly smoothing: readonly LayerSmoothing[];
}

/**
 * Calibrates, smooths and quantizes `model` (float weights, original head order).
 *
 * @throws QuantOptionsError for bad options; QuantFormatError for non-finite weights.
 */
export async function quantizeModelW8A8(
  model: ModelSource,
  options: QuantizeOptions,
): Promise<QuantizedModel> {
  if (model.w8a8 !== undefined) throw new QuantOptionsError('the model is already W8A8');
  const alpha = options.alpha ?? DEFAULT_SMOOTHQUANT_ALPHA;
  const activationScales = await collectActivationScales(model, options.calibration, {
    ...(options.signal && { signal: options.signal }),
    onProgress: (progress) => options.onProgress?.({ stage: 'calibrate', ...progress }),
  });
  const smoothing = smoothingForModel(model.config, model.weights, activationScales, alpha);
  const smoothed = applySmoothing(model.config, model.weights, smoothing);
  // One layer at a time, so progress shows and an abort is honoured between layers.
  const layers = [];
  for (const [index, layer] of smoothed.layers.entries()) {
    options.signal?.throwIfAborted();
    layers.push(quantizeLayerLinears(model.config, layer, index));
    options.onProgress?.({ stage: 'quantize', layersDone: index + 1, layers: model.config.numLayers });
  }
  const w8a8: W8A8Weights = { layers };
  return {
    config: model.config,
    weights: dequantizedWeights(smoothed, w8a8),
    w8a8,
    provenance: {
      alpha,
      calibrationSequences: options.calibration.length,
      calibrationTokens: options.calibration.reduce((sum, tokens) => sum + tokens.length, 0),
    },
    smoothing,
  };
}
