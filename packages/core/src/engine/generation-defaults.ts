// What a model directory says about decoding: the ids that end generation and the author's
// sampling defaults (generation_config.json), read the way transformers' generate() reads them, so
// every caller (library, CLI, server) stops and samples alike without repeating the rules.

import type { GenerationConfig } from '../model/generation-config.js';
import type { LoadedModel } from '../model/load-model.js';
import type { SamplingOptions } from './sampling.js';

/** transformers' GenerationConfig default for `top_k` when sampling and the file gives none. */
export const TRANSFORMERS_DEFAULT_TOP_K = 50;

/** Default of `maxNewTokens` when generation_config.json gives no `max_new_tokens`. */
export const DEFAULT_MAX_NEW_TOKENS = 128;

/** The sampling settings and token budget a model directory asks for. */
export interface GenerationDefaults
  extends Required<Pick<SamplingOptions, 'greedy' | 'temperature' | 'topK' | 'topP' | 'repetitionPenalty'>> {
  readonly maxNewTokens: number;
}

/**
 * The decoding defaults of a generation_config.json (or none): greedy unless `do_sample` is true;
 * when sampling, its temperature, top_k and top_p (transformers' defaults 1, 50 and 1 where absent);
 * its repetition_penalty either way; its max_new_tokens, else {@link DEFAULT_MAX_NEW_TOKENS}.
 */
export function generationDefaults(config: GenerationConfig | undefined): GenerationDefaults {
  const sample = config?.doSample === true;
  return {
    greedy: !sample,
    temperature: sample ? (config?.temperature ?? 1) : 1,
    topK: sample ? (config?.topK ?? TRANSFORMERS_DEFAULT_TOP_K) : 0,
    topP: sample ? (config?.topP ?? 1) : 1,
    repetitionPenalty: config?.repetitionPenalty ?? 1,
    maxNewTokens: config?.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
  };
}

/**
 * Every id that ends generation: generation_config.json's `eos_token_id`, config.json's, and the
 * tokenizer's end-of-sequence ids (chat models often end a turn with a token only one of them names).
 */
export function endOfSequenceIds(
  model: Pick<LoadedModel, 'config' | 'generationConfig'>,
  tokenizer?: { readonly eosTokenIds: readonly number[] },
): number[] {
  return [
    ...new Set([
      ...(model.generationConfig?.eosTokenIds ?? []),
      ...model.config.eosTokenIds,
      ...(tokenizer?.eosTokenIds ?? []),
    ]),
  ];
}
