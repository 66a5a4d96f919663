// One retrieval trial: greedy-decode the answer to a needle prompt and check it. Exact match means
// the needle's value appears in the generated text as a whole number.
import { type Executor, generate } from '@duo-attn/core';
import { containsValue } from '../scoring/exact-match.js';

/** What a trial needs besides the prompt. */
export interface RetrievalTrialOptions {
  /** The value hidden in the needle. */
  readonly value: string;
  readonly maxNewTokens: number;
  readonly stopTokenIds: readonly number[];
  readonly prefillChunkSize?: number;
  readonly signal?: AbortSignal;
  /** Turns generated ids into text. */
  readonly decode: (ids: readonly number[]) => string;
}

export interface RetrievalTrialResult {
  readonly output: string;
  readonly correct: boolean;
}

/** Runs greedy generation after `promptIds` and scores exact match of `value`. */
export async function runRetrievalTrial(
  executor: Executor,
  promptIds: readonly number[],
  options: RetrievalTrialOptions,
): Promise<RetrievalTrialResult> {
  const tokens: number[] = [];
  const iterator = generate(executor, promptIds, {
    greedy: true,
    maxNewTokens: options.maxNewTokens,
    stopTokenIds: options.stopTokenIds,
    ...(options.prefillChunkSize !== undefined ? { prefillChunkSize: options.prefillChunkSize } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  for await (const token of iterator) {
    if (!options.stopTokenIds.includes(token.id)) tokens.push(token.id);
  }
  const output = options.decode(tokens);
  return { output, correct: containsValue(output, options.value) };
}
