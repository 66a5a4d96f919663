// The W8A8 form of a model's linear layers, as a backend receives it next to the float weights
// (see docs/decisions/0007): q/k/v/o and gate/up/down as int8 with per-output-channel scales.
// Embeddings, LM head, norms and biases stay float (reference spec §5.1).
import type { ModelConfig } from '../model/model-types.js';
import { checkInt8Linear, type Int8Linear } from './int8-weights.js';
import { QuantFormatError } from './quant-errors.js';

/** One decoder layer's int8 linears, HF `[outFeatures, inFeatures]` layout, original head order. */
export interface W8A8LayerWeights {
  readonly qProj: Int8Linear;
  readonly kProj: Int8Linear;
  readonly vProj: Int8Linear;
  readonly oProj: Int8Linear;
  readonly gateProj: Int8Linear;
  readonly upProj: Int8Linear;
  readonly downProj: Int8Linear;
}

/** Every layer's int8 linears. */
export interface W8A8Weights {
  readonly layers: readonly W8A8LayerWeights[];
}

/** The names of the seven linears of a layer, in checkpoint order. */
export const W8A8_LINEARS = ['qProj', 'kProj', 'vProj', 'oProj', 'gateProj', 'upProj', 'downProj'] as const;

/** `[outFeatures, inFeatures]` of each linear of a layer of `config`. */
export function linearShapes(
  config: ModelConfig,
): Readonly<Record<(typeof W8A8_LINEARS)[number], readonly [number, number]>> {
  const { hiddenSize: h, intermediateSize: i, numHeads, numKvHeads, headDim: d } = config;
  return {
    qProj: [numHeads * d, h],
    kProj: [numKvHeads * d, h],
    vProj: [numKvHeads * d, h],
    oProj: [h, numHeads * d],
    gateProj: [i, h],
    upProj: [i, h],
    downProj: [h, i],
  };
}

/**
 * Checks `w8a8` has one layer per config layer and every linear the shape the config implies.
 *
 * @throws QuantFormatError naming the layer and linear.
 */
export function validateW8A8Weights(config: ModelConfig, w8a8: W8A8Weights): void {
  if (!Array.isArray(w8a8?.layers) || w8a8.layers.length !== config.numLayers) {
    throw new QuantFormatError(
      `W8A8 weights have ${Array.isArray(w8a8?.layers) ? w8a8.layers.length : 'no'} layers, config has ${config.numLayers}`,
    );
  }
  const shapes = linearShapes(config);
  w8a8.layers.forEach((layer, index) => {
    for (const name of W8A8_LINEARS) {
      const [out, inFeatures] = shapes[name];
      checkInt8Linear(layer?.[name], out, inFeatures, `W8A8 layers.${index}.${name}`);
    }
  });
}
