// One retrieval trial: greedy-decode the answer to a prompt (a needle question, a LongBench sample);
// the caller scores it.
import { type Executor, type FinishReason, generate } from '@duo-attn/core';

/** What a trial needs besides the prompt. */
export interface RetrievalTrialOptions {
  readonly maxNewTokens: number;
  readonly stopTokenIds: readonly number[];
  readonly prefillChunkSize?: number;
  /** The prompt's last this many tokens are fed as decode steps (see core's `generate`). Default 0. */
  readonly stepwisePromptTail?: number;
  readonly signal?: AbortSignal;
  /** Positions the model may use (prompt + answer); default the model's maxPositionEmbeddings. */
  readonly contextLength?: number;
  /** Turns generated ids into text. */
  readonly decode: (ids: readonly number[]) => string;
}

export interface RetrievalTrialResult {
  readonly output: string;
  /** Why generation ended (a stop token, the length limit, an abort...). */
  readonly finishReason: FinishReason;
  /** Tokens generated, a final stop token included. */
  readonly generatedTokens: number;
  /** The signal stopped generation before the answer was complete: the output is not an answer. */
  readonly aborted: boolean;
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
    ...(options.stepwisePromptTail !== undefined ? { stepwisePromptTail: options.stepwisePromptTail } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
  });
  let step = await iterator.next();
  while (!step.done) {
    if (!options.stopTokenIds.includes(step.value.id)) tokens.push(step.value.id);
    step = await iterator.next();
  }
  const output = options.decode(tokens);
  return {
    output,
    finishReason: step.value.finishReason,
    generatedTokens: step.value.tokens.length,
    aborted: step.value.finishReason === 'aborted',
  };
}
