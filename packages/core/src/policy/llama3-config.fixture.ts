// Llama-3-8B's published shape, for the planner tests' hand-computed numbers.
import type { ModelConfig } from '../model/model-types.js';

/** Llama-3-8B's published shape. */
export const llama3: ModelConfig = {
  architecture: 'LlamaForCausalLM',
  modelType: 'llama',
  vocabSize: 128256,
  hiddenSize: 4096,
  intermediateSize: 14336,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  rmsNormEps: 1e-5,
  maxPositionEmbeddings: 8192,
  tieWordEmbeddings: false,
  attentionBias: false,
  mlpBias: false,
  rope: { type: 'default', theta: 500000 },
  hiddenAct: 'silu',
  eosTokenIds: [128001],
  slidingWindow: null,
  torchDtype: 'bfloat16',
};
