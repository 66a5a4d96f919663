// SmoothQuant calibration: runs a few token sequences through the reference backend (float32, full
// attention) and records, per layer, the largest |activation| of each input channel of q|k|v and of
// gate|up (the inputs the smoothing folds into the preceding RMSNorm).
import {
  fullPolicy,
  type LinearInputSite,
  type ModelSource,
  ReferenceExecutor,
  validateModelSource,
} from '@duo-attn/core';
import { QuantOptionsError } from './quant-errors.js';

/** Per-input-channel max |x| of one layer's smoothed linears, `[hiddenSize]` f32 each. */
export interface LayerActivationScales {
  /** Input of q|k|v: the output of input_layernorm. */
  readonly qkv: Float32Array;
  /** Input of gate|up: the output of post_attention_layernorm. */
  readonly gateUp: Float32Array;
}

/** Progress of {@link collectActivationScales}: after each sequence. */
export interface CalibrationProgress {
  readonly sequencesDone: number;
  readonly sequences: number;
  readonly tokensDone: number;
}

/** Options of {@link collectActivationScales}. */
export interface CalibrationOptions {
  readonly onProgress?: (progress: CalibrationProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * Per-channel activation abs-max over `sequences` (each a non-empty list of token ids, run whole as
 * one first chunk, i.e. exact full attention), as SmoothQuant's `get_act_scales` collects them.
 *
 * @throws QuantOptionsError when there is no sequence or one is empty; the executor's errors for
 *   bad token ids; the signal's reason when aborted.
 */
export async function collectActivationScales(
  model: ModelSource,
  sequences: readonly (readonly number[])[],
  options: CalibrationOptions = {},
): Promise<LayerActivationScales[]> {
  validateModelSource(model);
  if (sequences.length === 0) throw new QuantOptionsError('calibration needs at least one sequence');
  sequences.forEach((tokens, index) => {
    if (tokens.length === 0) throw new QuantOptionsError(`calibration sequence ${index} is empty`);
  });
  const { config } = model;
  const scales: LayerActivationScales[] = Array.from({ length: config.numLayers }, () => ({
    qkv: new Float32Array(config.hiddenSize),
    gateUp: new Float32Array(config.hiddenSize),
  }));
  const observe = (layer: number, site: LinearInputSite, x: Float32Array, rows: number): void => {
    if (site !== 'qkv' && site !== 'gateUp') return;
    const target = scales[layer]![site];
    const width = target.length;
    for (let t = 0; t < rows; t++) {
      for (let i = 0; i < width; i++) {
        const magnitude = Math.abs(x[t * width + i]!);
        if (magnitude > target[i]!) target[i] = magnitude;
      }
    }
  };
  const executor = new ReferenceExecutor({
    config,
    policy: fullPolicy(config),
    weights: model.weights,
    maxTokens: Math.max(...sequences.map((tokens) => tokens.length)),
    maxSequences: 1,
    observer: observe,
  });
  try {
    let tokensDone = 0;
    for (const [index, tokens] of sequences.entries()) {
      options.signal?.throwIfAborted();
      executor.reset(0);
      await executor.forward(0, tokens, options.signal === undefined ? {} : { signal: options.signal });
      tokensDone += tokens.length;
      options.onProgress?.({ sequencesDone: index + 1, sequences: sequences.length, tokensDone });
    }
  } finally {
    await executor.dispose();
  }
  return scales;
}
