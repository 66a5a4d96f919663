// Loads a Hugging Face model directory (config.json, optional generation_config.json, safetensors)
// into the form every backend takes. All or nothing: on any error every file is closed and nothing
// half-loaded escapes.
import { resolve } from 'node:path';
import type { ModelSource } from '../backend/backend.js';
import { type GenerationConfig, readGenerationConfig } from './generation-config.js';
import { type LoadWeightsOptions, loadWeights } from './load-weights.js';
import { readModelConfig } from './model-config.js';
import type { ModelConfig, ModelWeights } from './model-types.js';
import { SafetensorsCheckpoint } from './safetensors.js';

/** Options of {@link loadModel}. */
export type LoadModelOptions = LoadWeightsOptions;

/** A loaded model directory. Usable as a backend's {@link ModelSource}. */
export interface LoadedModel extends ModelSource {
  /** Absolute path of the model directory. */
  readonly directory: string;
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  /** generation_config.json, when the directory has one. */
  readonly generationConfig?: GenerationConfig;
  /**
   * Token ids that end generation, as transformers' generate() picks them: generation_config.json's
   * `eos_token_id` when it gives one, else config.json's.
   */
  readonly eosTokenIds: readonly number[];
}

/**
 * Loads `dir`: parses config.json and generation_config.json, opens the safetensors checkpoint,
 * checks every tensor's name and shape against the config, then reads all weights as float32.
 *
 * @throws ModelConfigError, CheckpointError, SafetensorsFormatError, UnsupportedDtypeError or
 *   ModelWeightsError, each naming the file and key or tensor at fault; the signal's reason when
 *   aborted.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const directory = resolve(dir);
  const config = await readModelConfig(directory);
  const generationConfig = await readGenerationConfig(directory);
  options.signal?.throwIfAborted();
  const checkpoint = await SafetensorsCheckpoint.open(directory);
  let weights: ModelWeights;
  try {
    weights = await loadWeights(checkpoint, config, options);
  } finally {
    await checkpoint.close();
  }
  const eosTokenIds = generationConfig?.eosTokenIds ?? config.eosTokenIds;
  return {
    directory,
    config,
    weights,
    ...(generationConfig === undefined ? {} : { generationConfig }),
    eosTokenIds,
  };
}
