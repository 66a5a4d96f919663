// One retrieval trial: greedy-decode the answer to a needle prompt (the caller scores it).
import { type Executor, generate } from '@duo-attn/core';

/** What a trial needs besides the prompt. */
export interface RetrievalTrialOptions {
  readonly maxNewTokens: number;
  readonly stopTokenIds: readonly number[];
  readonly prefillChunkSize?: number;
  readonly signal?: AbortSignal;
  /** Turns generated ids into text. */
  readonly decode: (ids: readonly number[]) => string;
}

export interface RetrievalTrialResult {
  readonly output: string;
}

/** Runs greedy generation after `promptIds` and returns the decoded answer (stop tokens excluded). */
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
  return { output };
}
