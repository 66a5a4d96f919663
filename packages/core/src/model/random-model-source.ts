// Seeded random models built in memory: tests of any package run real forward passes without
// checkpoint files, and benchmarks get any model shape. Deterministic for a given seed and options.
import type { ModelSource } from '../backend/backend.js';
import { mulberry32 } from '../random.js';
import type { LayerWeights, ModelConfig, RopeConfig } from './model-types.js';

/** Shape and content options of {@link createRandomModel}; every field has a small default. */
export interface RandomModelSourceOptions {
  /** PRNG seed (default 1). */
  readonly seed?: number;
  readonly numLayers?: number;
  readonly hiddenSize?: number;
  readonly numHeads?: number;
  readonly numKvHeads?: number;
  /** Default `hiddenSize / numHeads`. */
  readonly headDim?: number;
  readonly intermediateSize?: number;
  readonly vocabSize?: number;
  readonly attentionBias?: boolean;
  readonly mlpBias?: boolean;
  readonly tieWordEmbeddings?: boolean;
  /** Default `{ type: 'default', theta: 10000 }`. */
  readonly rope?: RopeConfig;
  readonly rmsNormEps?: number;
  readonly maxPositionEmbeddings?: number;
  /** Multiplies q/k weights so attention is peaked rather than near-uniform (default 2). */
  readonly attentionSharpness?: number;
}

/**
 * The ModelConfig {@link createRandomModel} builds for `options` (same defaults), without any
 * weights: for backends that generate weights on their device (benchmarks of 8B shapes).
 */
export function randomModelConfig(options: RandomModelSourceOptions = {}): ModelConfig {
  const numLayers = options.numLayers ?? 2;
  const hiddenSize = options.hiddenSize ?? 32;
  const numHeads = options.numHeads ?? 4;
  const numKvHeads = options.numKvHeads ?? 2;
  const headDim = options.headDim ?? hiddenSize / numHeads;
  const intermediateSize = options.intermediateSize ?? 48;
  const vocabSize = options.vocabSize ?? 64;
  const attentionBias = options.attentionBias ?? false;
  const mlpBias = options.mlpBias ?? false;
  const tieWordEmbeddings = options.tieWordEmbeddings ?? false;
  return {
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: options.rmsNormEps ?? 1e-5,
    maxPositionEmbeddings: options.maxPositionEmbeddings ?? 4096,
    tieWordEmbeddings,
    attentionBias,
    mlpBias,
    rope: options.rope ?? { type: 'default', theta: 10000 },
    hiddenAct: 'silu',
    eosTokenIds: [],
    slidingWindow: null,
    torchDtype: 'float32',
  };
}

/**
 * A random Llama-style model: uniform weights scaled by `sqrt(3 / fanIn)` (unit-variance
 * outputs), norms near 1, biases small. Returns config and float32 weights in HF layout.
 */
export function createRandomModel(options: RandomModelSourceOptions = {}): ModelSource {
  const random = mulberry32(options.seed ?? 1);
  const config = randomModelConfig(options);
  const {
    numLayers,
    hiddenSize,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    vocabSize,
    attentionBias,
    mlpBias,
    tieWordEmbeddings,
  } = config;
  const sharpness = options.attentionSharpness ?? 2;

  const uniform = (length: number, scale: number, offset = 0): Float32Array => {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = offset + scale * (2 * random() - 1);
    return out;
  };
  const matrix = (rows: number, columns: number, gain = 1): Float32Array =>
    uniform(rows * columns, gain * Math.sqrt(3 / columns));

  const embedTokens = uniform(vocabSize * hiddenSize, 1);
  const layers: LayerWeights[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    layers.push({
      inputNorm: uniform(hiddenSize, 0.1, 1),
      qProj: matrix(numHeads * headDim, hiddenSize, sharpness),
      kProj: matrix(numKvHeads * headDim, hiddenSize, sharpness),
      vProj: matrix(numKvHeads * headDim, hiddenSize),
      oProj: matrix(hiddenSize, numHeads * headDim),
      ...(attentionBias && {
        qBias: uniform(numHeads * headDim, 0.1),
        kBias: uniform(numKvHeads * headDim, 0.1),
        vBias: uniform(numKvHeads * headDim, 0.1),
      }),
      postAttentionNorm: uniform(hiddenSize, 0.1, 1),
      gateProj: matrix(intermediateSize, hiddenSize),
      upProj: matrix(intermediateSize, hiddenSize),
      downProj: matrix(hiddenSize, intermediateSize),
      ...(mlpBias && {
        gateBias: uniform(intermediateSize, 0.1),
        upBias: uniform(intermediateSize, 0.1),
        downBias: uniform(hiddenSize, 0.1),
      }),
    });
  }
  const norm = uniform(hiddenSize, 0.1, 1);
  const lmHead = tieWordEmbeddings ? embedTokens : matrix(vocabSize, hiddenSize);
  return { config, weights: { embedTokens, layers, norm, lmHead } };
}
