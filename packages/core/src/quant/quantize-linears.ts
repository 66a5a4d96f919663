// Turns a float model into a W8A8 ModelSource by quantizing each layer's seven linears per output
// channel, as they are. @duo-attn/quant smooths the weights first (SmoothQuant); without smoothing
// this is plain W8A8, used by tests and as the baseline smoothing is measured against.
import type { ModelSource } from '../backend/backend.js';
import type { LayerWeights, ModelConfig, ModelWeights } from '../model/model-types.js';
import { dequantizeInt8Linear, quantizeInt8Linear } from './int8-weights.js';
import { linearShapes, type W8A8LayerWeights, type W8A8Weights } from './w8a8-weights.js';

/** A ModelSource whose `w8a8` is present. */
export type W8A8ModelSource = ModelSource & { readonly w8a8: W8A8Weights };

/** `model` with its linears quantized to int8 and the float view replaced by the dequantized weights. */
export function quantizeLinears(model: ModelSource): W8A8ModelSource {
  const layers = model.weights.layers.map((layer, index) => quantizeLayerLinears(model.config, layer, index));
  const w8a8: W8A8Weights = { layers };
  return { config: model.config, weights: dequantizedWeights(model.weights, w8a8), w8a8 };
}

/** The seven linears of one layer as int8 (errors name `layers.<index>.<linear>`). */
export function quantizeLayerLinears(
  config: ModelConfig,
  layer: LayerWeights,
  index: number,
): W8A8LayerWeights {
  const shapes = linearShapes(config);
  const quantize = (name: keyof W8A8LayerWeights) =>
    quantizeInt8Linear(layer[name], shapes[name][0], shapes[name][1], `layers.${index}.${name}`);
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
 * `weights` with each layer's linear fields replaced by its int8 layer dequantized (codes · scale):
 * the float view a W8A8 ModelSource carries. Norms, biases, embeddings and LM head are kept.
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
