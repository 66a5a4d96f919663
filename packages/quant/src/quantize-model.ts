// W8A8 quantization of a whole model: calibrate activation maxima on a few sequences, fold the
// SmoothQuant factors into the RMSNorms and q|k|v / gate|up, then quantize all seven linears of each
// layer to int8 per output channel. The result is a ModelSource a W8A8 backend loads directly.
import {
  dequantizeInt8Linear,
  type LayerWeights,
  linearShapes,
  type ModelConfig,
  type ModelSource,
  type ModelWeights,
  quantizeInt8Linear,
  type W8A8_LINEARS,
  type W8A8LayerWeights,
  type W8A8Weights,
} from '@duo-attn/core';
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
  const layers: W8A8LayerWeights[] = [];
  for (const [index, layer] of smoothed.layers.entries()) {
    options.signal?.throwIfAborted();
    layers.push(quantizeLayer(model.config, layer, index));
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

/** The seven linears of one (already smoothed) layer as int8. */
export function quantizeLayer(config: ModelConfig, layer: LayerWeights, index: number): W8A8LayerWeights {
  const shapes = linearShapes(config);
  const quantize = (name: (typeof W8A8_LINEARS)[number]) => {
    const [out, inFeatures] = shapes[name];
    return quantizeInt8Linear(layer[name], out, inFeatures, `layers.${index}.${name}`);
  };
  return {
    qProj: quantize('qProj'),
    kProj: quantize('kProj'),
    vProj: quantize('vProj'),
    oProj: quantize('oProj'),
    gateProj: quantize('gateProj'),
    upProj: quantize('upProj'),
    downProj: quantize('downProj'),
  };
}

/**
 * `weights` with each layer's linear fields replaced by its int8 layer dequantized, the float view
 * a W8A8 ModelSource carries (norms, biases, embeddings and LM head kept).
 */
export function dequantizedWeights(weights: ModelWeights, w8a8: W8A8Weights): ModelWeights {
  return {
    ...weights,
    layers: weights.layers.map((layer, index): LayerWeights => {
      const int8 = w8a8.layers[index]!;
      return {
        ...layer,
        qProj: dequantizeInt8Linear(int8.qProj),
        kProj: dequantizeInt8Linear(int8.kProj),
        vProj: dequantizeInt8Linear(int8.vProj),
        oProj: dequantizeInt8Linear(int8.oProj),
        gateProj: dequantizeInt8Linear(int8.gateProj),
        upProj: dequantizeInt8Linear(int8.upProj),
        downProj: dequantizeInt8Linear(int8.downProj),
      };
    }),
  };
}
