// What one generation asks for, merged over the model's own defaults (generation_config.json for
// sampling and token budget, every end-of-sequence id for stopping), into the engine's options.
import type { GenerateOptions, GenerationDefaults, PromptTruncation } from '@duo-attn/core';

/** Options of a generation. Unset sampling fields follow the model's generation_config.json. */
export interface GenerationOptions {
  /** Most tokens to generate. Default: generation_config.json's max_new_tokens, else 128. */
  readonly maxNewTokens?: number;
  /**
   * Pick the most likely token. Default: the model's choice (greedy unless generation_config.json
   * sets do_sample), except that giving `temperature`, `topK` or `topP` asks for sampling.
   */
  readonly greedy?: boolean;
  /** Softmax temperature (0 = greedy). Default: the model's when it samples, else 1. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0 = off). Default: the model's when it samples (50 if unset), else 0. */
  readonly topK?: number;
  /** Nucleus sampling mass in (0, 1]. Default: the model's when it samples, else 1. */
  readonly topP?: number;
  /** CTRL repetition penalty (1 = off). Default: the model's, else 1. */
  readonly repetitionPenalty?: number;
  /** Sampling seed; the same seed gives the same tokens. Default: random. */
  readonly seed?: number;
  /** Generation ends when the text contains one; it is not included in the text. */
  readonly stopStrings?: readonly string[];
  /** More ids that end generation, besides the model's end-of-sequence ids. */
  readonly stopTokenIds?: readonly number[];
  /** Do not stop at the model's end-of-sequence ids (`stopTokenIds` still apply). Default false. */
  readonly ignoreEos?: boolean;
  /** Prefill the prompt in chunks of this many tokens. Default: all at once. */
  readonly prefillChunkSize?: number;
  /** What to do with a prompt that does not fit the context with `maxNewTokens`: error (default), or drop tokens from the left or the middle. */
  readonly truncate?: PromptTruncation;
  /** Aborting ends the generation promptly with finish reason 'aborted'; the model stays usable. */
  readonly signal?: AbortSignal;
}

/** The engine options of one generation (everything but the signal and the cached prefix). */
export function engineOptions(
  options: GenerationOptions,
  defaults: GenerationDefaults,
  endOfSequenceIds: readonly number[],
  contextLength: number,
): GenerateOptions {
  const asksToSample =
    options.temperature !== undefined || options.topK !== undefined || options.topP !== undefined;
  const greedy = options.greedy ?? (asksToSample ? false : defaults.greedy);
  // The model's sampling settings apply only when the model itself samples; otherwise a caller who
  // asks for a temperature gets plain sampling at it.
  const fromModel = !defaults.greedy;
  const stopTokenIds = [
    ...new Set([...(options.ignoreEos ? [] : endOfSequenceIds), ...(options.stopTokenIds ?? [])]),
  ];
  return {
    maxNewTokens: options.maxNewTokens ?? defaults.maxNewTokens,
    greedy,
    temperature: options.temperature ?? (fromModel ? defaults.temperature : 1),
    topK: options.topK ?? (fromModel ? defaults.topK : 0),
    topP: options.topP ?? (fromModel ? defaults.topP : 1),
    repetitionPenalty: options.repetitionPenalty ?? defaults.repetitionPenalty,
    stopTokenIds,
    contextLength,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.stopStrings !== undefined ? { stopStrings: options.stopStrings } : {}),
    ...(options.prefillChunkSize !== undefined ? { prefillChunkSize: options.prefillChunkSize } : {}),
    ...(options.truncate !== undefined ? { truncate: options.truncate } : {}),
  };
}
