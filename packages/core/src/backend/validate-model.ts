// Checks every backend runs on a model before loading it: config coherence, weight shapes, and
// load options, so a bad checkpoint fails with the tensor's name instead of a wrong answer.

import type { ModelConfig, ModelWeights } from '../model/model-types.js';
import { validatePolicyForModel } from '../policy/create-policy.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { QuantFormatError } from '../quant/quant-errors.js';
import { validateW8A8Weights } from '../quant/w8a8-weights.js';
import type { GateTrainerOptions } from '../training/gate-trainer.js';
import { checkStreamingMask } from '../training/streaming-mask.js';
import type { BackendCapabilities, LoadOptions, ModelSource } from './backend.js';
import { ModelLoadError } from './backend-errors.js';

/** Checks the config describes a model the backends can run (positive sizes, GQA divisibility, silu). */
export function validateModelConfig(config: ModelConfig): void {
  const positive: (keyof ModelConfig)[] = [
    'vocabSize',
    'hiddenSize',
    'intermediateSize',
    'numLayers',
    'numHeads',
    'numKvHeads',
    'headDim',
  ];
  for (const key of positive) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new ModelLoadError(
        'E_MODEL_UNSUPPORTED',
        `config ${key} must be a positive integer (got ${String(value)})`,
      );
    }
  }
  if (config.numHeads % config.numKvHeads !== 0) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `config numHeads ${config.numHeads} is not a multiple of numKvHeads ${config.numKvHeads}`,
    );
  }
  if (config.headDim % 2 !== 0) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `config headDim must be even for RoPE (got ${config.headDim})`,
    );
  }
  if (!(config.rmsNormEps > 0)) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `config rmsNormEps must be positive (got ${config.rmsNormEps})`,
    );
  }
  if (config.hiddenAct !== 'silu') {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `hidden activation ${String(config.hiddenAct)} is not supported (only silu)`,
    );
  }
}

/** Checks each weight tensor has the length its config implies; names the tensor and layer otherwise. */
export function validateModelWeights(config: ModelConfig, weights: ModelWeights): void {
  const { vocabSize, hiddenSize: h, intermediateSize: i, numHeads, numKvHeads, headDim: d } = config;
  const check = (what: string, array: Float32Array | undefined, expected: number, shape: string): void => {
    if (!(array instanceof Float32Array)) {
      throw new ModelLoadError(
        'E_WEIGHTS',
        `weight ${what} is missing or not a Float32Array (expected ${shape})`,
      );
    }
    if (array.length !== expected) {
      throw new ModelLoadError(
        'E_WEIGHTS',
        `weight ${what} has ${array.length} values, expected ${shape} = ${expected}`,
      );
    }
  };
  const absent = (what: string, array: Float32Array | undefined, flag: string): void => {
    if (array !== undefined)
      throw new ModelLoadError('E_WEIGHTS', `weight ${what} is present but config ${flag} is false`);
  };
  check('embedTokens', weights.embedTokens, vocabSize * h, `[${vocabSize}, ${h}]`);
  check('norm', weights.norm, h, `[${h}]`);
  check('lmHead', weights.lmHead, vocabSize * h, `[${vocabSize}, ${h}]`);
  if (!Array.isArray(weights.layers) || weights.layers.length !== config.numLayers) {
    throw new ModelLoadError(
      'E_WEIGHTS',
      `weights have ${Array.isArray(weights.layers) ? weights.layers.length : 'no'} layers, config has ${config.numLayers}`,
    );
  }
  weights.layers.forEach((layer, index) => {
    const at = (name: string): string => `layers.${index}.${name}`;
    check(at('inputNorm'), layer.inputNorm, h, `[${h}]`);
    check(at('qProj'), layer.qProj, numHeads * d * h, `[${numHeads * d}, ${h}]`);
    check(at('kProj'), layer.kProj, numKvHeads * d * h, `[${numKvHeads * d}, ${h}]`);
    check(at('vProj'), layer.vProj, numKvHeads * d * h, `[${numKvHeads * d}, ${h}]`);
    check(at('oProj'), layer.oProj, h * numHeads * d, `[${h}, ${numHeads * d}]`);
    check(at('postAttentionNorm'), layer.postAttentionNorm, h, `[${h}]`);
    check(at('gateProj'), layer.gateProj, i * h, `[${i}, ${h}]`);
    check(at('upProj'), layer.upProj, i * h, `[${i}, ${h}]`);
    check(at('downProj'), layer.downProj, h * i, `[${h}, ${i}]`);
    if (config.attentionBias) {
      check(at('qBias'), layer.qBias, numHeads * d, `[${numHeads * d}]`);
      check(at('kBias'), layer.kBias, numKvHeads * d, `[${numKvHeads * d}]`);
      check(at('vBias'), layer.vBias, numKvHeads * d, `[${numKvHeads * d}]`);
    } else {
      absent(at('qBias'), layer.qBias, 'attentionBias');
      absent(at('kBias'), layer.kBias, 'attentionBias');
      absent(at('vBias'), layer.vBias, 'attentionBias');
    }
    if (config.mlpBias) {
      check(at('gateBias'), layer.gateBias, i, `[${i}]`);
      check(at('upBias'), layer.upBias, i, `[${i}]`);
      check(at('downBias'), layer.downBias, h, `[${h}]`);
    } else {
      absent(at('gateBias'), layer.gateBias, 'mlpBias');
      absent(at('upBias'), layer.upBias, 'mlpBias');
      absent(at('downBias'), layer.downBias, 'mlpBias');
    }
  });
}

/** Config + weights checks of {@link validateModelConfig} and {@link validateModelWeights}. */
export function validateModelSource(model: ModelSource): void {
  validateModelConfig(model.config);
  validateModelWeights(model.config, model.weights);
}

/** Load options with defaults applied. */
export interface ResolvedLoadOptions {
  readonly maxTokens: number;
  readonly maxSequences: number;
}

/** Checks `maxTokens` and `maxSequences` are positive integers; defaults `maxSequences` to 1. */
export function resolveLoadOptions(options: LoadOptions): ResolvedLoadOptions {
  const maxSequences = options.maxSequences ?? 1;
  if (!Number.isInteger(options.maxTokens) || options.maxTokens <= 0) {
    throw new ModelLoadError(
      'E_LOAD_OPTIONS',
      `maxTokens must be a positive integer (got ${options.maxTokens})`,
    );
  }
  if (!Number.isInteger(maxSequences) || maxSequences <= 0) {
    throw new ModelLoadError(
      'E_LOAD_OPTIONS',
      `maxSequences must be a positive integer (got ${maxSequences})`,
    );
  }
  return { maxTokens: options.maxTokens, maxSequences };
}

/**
 * What every backend's `load` checks first: the model, the policy against it, the cache dtype against
 * the backend's capabilities, the load options, and (no backend implements it yet) that Mistral's
 * sliding window cannot be reached. Returns the load options with defaults applied.
 */
export function validateLoadRequest(
  backendName: string,
  capabilities: BackendCapabilities,
  model: ModelSource,
  policy: KvCachePolicy,
  options: LoadOptions,
): ResolvedLoadOptions {
  validateModelSource(model);
  const { config } = model;
  validatePolicyForModel(policy, config);
  if (model.w8a8 !== undefined) {
    const formats = capabilities.weightFormats ?? ['float'];
    if (!formats.includes('w8a8')) {
      throw new ModelLoadError(
        'E_MODEL_UNSUPPORTED',
        `the ${backendName} backend runs ${formats.join('/')} weights; this model is W8A8 (int8 weights and activations)`,
      );
    }
    try {
      validateW8A8Weights(config, model.w8a8);
    } catch (error) {
      if (error instanceof QuantFormatError) throw new ModelLoadError('E_WEIGHTS', error.message);
      throw error;
    }
  }
  if (!capabilities.kvCacheDtypes.includes(policy.cacheDtype)) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `the ${backendName} backend keeps ${capabilities.kvCacheDtypes.join('/')} KV caches; policy cacheDtype ${policy.cacheDtype} is not supported`,
    );
  }
  const resolved = resolveLoadOptions(options);
  if (config.slidingWindow !== null && resolved.maxTokens > config.slidingWindow) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `the ${backendName} backend does not implement sliding-window attention: maxTokens ${resolved.maxTokens} exceeds the model's slidingWindow ${config.slidingWindow}`,
    );
  }
  return resolved;
}

/**
 * What every backend's `loadGateTrainer` checks first: the model, the training mask, `maxTokens`
 * and (as for inference) that Mistral's sliding window cannot be reached.
 */
export function validateGateTrainerRequest(
  backendName: string,
  model: ModelSource,
  options: GateTrainerOptions,
): void {
  validateModelSource(model);
  if (model.w8a8 !== undefined) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `the ${backendName} backend trains gates on float weights; this model is W8A8 (train on the float checkpoint)`,
    );
  }
  checkStreamingMask(options.mask);
  const { maxTokens } = resolveLoadOptions({ maxTokens: options.maxTokens });
  const { config } = model;
  if (config.slidingWindow !== null && maxTokens > config.slidingWindow) {
    throw new ModelLoadError(
      'E_MODEL_UNSUPPORTED',
      `the ${backendName} backend does not implement sliding-window attention: maxTokens ${maxTokens} exceeds the model's slidingWindow ${config.slidingWindow}`,
    );
  }
}
