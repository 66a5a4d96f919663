// The model as every backend sees it: a normalised architecture description (whatever the HF
// config style) and float32 weights in HF's layout. Shapes are row-major `[rows, columns]`.

/** Architectures the loader understands. */
export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';

/** RoPE variants of HF transformers' `rope_type`. */
export type RopeType = 'default' | 'linear' | 'dynamic' | 'llama3' | 'yarn';

/** RoPE parameters, normalised from `rope_theta` + `rope_scaling` or `rope_parameters`. */
export interface RopeConfig {
  readonly type: RopeType;
  /** Base θ. */
  readonly theta: number;
  /** Scaling factor (linear, dynamic, llama3, yarn). */
  readonly factor?: number;
  /** Context length the model was pre-trained at (llama3, yarn, dynamic). */
  readonly originalMaxPositionEmbeddings?: number;
  /** llama3 only. */
  readonly lowFreqFactor?: number;
  readonly highFreqFactor?: number;
  /** yarn only (HF defaults 32 and 1). */
  readonly betaFast?: number;
  readonly betaSlow?: number;
  /** yarn: explicit attention factor (`attention_factor`), else derived from `mscale`/`factor`. */
  readonly attentionFactor?: number;
  readonly mscale?: number;
  readonly mscaleAllDim?: number;
  /** yarn: whether to truncate the correction range (HF `truncate`, default true). */
  readonly truncate?: boolean;
}

/** A decoder-only model's architecture, independent of the config style it came from. */
export interface ModelConfig {
  readonly architecture: Architecture;
  /** `model_type` of config.json (llama, mistral, qwen2). */
  readonly modelType: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  /** Query heads. */
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Explicit `head_dim` or `hiddenSize / numHeads`. */
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2, or `attention_bias: true`). */
  readonly attentionBias: boolean;
  /** MLP projections carry biases (`mlp_bias: true`). */
  readonly mlpBias: boolean;
  readonly rope: RopeConfig;
  /** `hidden_act`; only silu is supported. */
  readonly hiddenAct: 'silu';
  readonly bosTokenId?: number;
  /** `eos_token_id` as a list (configs give a number or a list). */
  readonly eosTokenIds: readonly number[];
  /** Mistral's sliding window, or null when attention is global. */
  readonly slidingWindow: number | null;
  /** `torch_dtype`/`dtype` of the checkpoint, if stated. */
  readonly torchDtype?: string;
}

/** One decoder layer's weights, float32, in HF's `[outFeatures, inFeatures]` layout. */
export interface LayerWeights {
  /** `[hiddenSize]` */
  readonly inputNorm: Float32Array;
  /** `[numHeads * headDim, hiddenSize]` */
  readonly qProj: Float32Array;
  /** `[numKvHeads * headDim, hiddenSize]` */
  readonly kProj: Float32Array;
  /** `[numKvHeads * headDim, hiddenSize]` */
  readonly vProj: Float32Array;
  /** `[hiddenSize, numHeads * headDim]` */
  readonly oProj: Float32Array;
  /** `[numHeads * headDim]`, `[numKvHeads * headDim]` ×2, when `attentionBias`. */
  readonly qBias?: Float32Array;
  readonly kBias?: Float32Array;
  readonly vBias?: Float32Array;
  /** `[hiddenSize]` */
  readonly postAttentionNorm: Float32Array;
  /** `[intermediateSize, hiddenSize]` */
  readonly gateProj: Float32Array;
  /** `[intermediateSize, hiddenSize]` */
  readonly upProj: Float32Array;
  /** `[hiddenSize, intermediateSize]` */
  readonly downProj: Float32Array;
  /** When `mlpBias`: `[intermediateSize]` ×2 and `[hiddenSize]`. */
  readonly gateBias?: Float32Array;
  readonly upBias?: Float32Array;
  readonly downBias?: Float32Array;
}

/** All weights of a model, float32. */
export interface ModelWeights {
  /** `[vocabSize, hiddenSize]` */
  readonly embedTokens: Float32Array;
  readonly layers: readonly LayerWeights[];
  /** `[hiddenSize]` final norm. */
  readonly norm: Float32Array;
  /** `[vocabSize, hiddenSize]`; the same array as `embedTokens` when embeddings are tied. */
  readonly lmHead: Float32Array;
}
