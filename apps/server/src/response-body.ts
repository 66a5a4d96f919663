// Response bodies in OpenAI's shapes: a whole completion (`text_completion` / `chat.completion`)
// and the chunks of a streamed one (`text_completion` / `chat.completion.chunk`), ending with the
// finish reason and, when asked for, a usage chunk with no choices.
import type { FinishReason, GenerateResult } from '@duo-attn/core';

export type CompletionKind = 'completion' | 'chat';

interface Identity {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

/** OpenAI's finish reasons: a stop token or stop string is 'stop'; the token limit or a full cache is 'length'. */
export function openAiFinishReason(reason: FinishReason): 'stop' | 'length' {
  return reason === 'stop-token' || reason === 'stop-string' ? 'stop' : 'length';
}

function usage(result: GenerateResult, promptTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: result.tokens.length,
    total_tokens: promptTokens + result.tokens.length,
  };
}

/** The body of a non-streamed completion. */
export function completionResponse(
  kind: CompletionKind,
  who: Identity,
  result: GenerateResult,
  promptTokens: number,
) {
  const finish_reason = openAiFinishReason(result.finishReason);
  const choice =
    kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: result.text }, finish_reason, logprobs: null }
      : { index: 0, text: result.text, finish_reason, logprobs: null };
  return {
    id: who.id,
    object: kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: who.created,
    model: who.model,
    choices: [choice],
    usage: usage(result, promptTokens),
  };
}

/** Builds the chunks of one streamed completion. */
export interface StreamChunks {
  /** The first chunk (chat: the assistant role; completions: empty text). */
  start(): unknown;
  delta(text: string): unknown;
  finish(result: GenerateResult): unknown;
  usage(result: GenerateResult, promptTokens: number): unknown;
}

export function streamChunks(kind: CompletionKind, who: Identity, includeUsage: boolean): StreamChunks {
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const chunk = (choice: Record<string, unknown>) => ({
    id: who.id,
    object,
    created: who.created,
    model: who.model,
    choices: [{ index: 0, ...choice }],
    // With include_usage every chunk but the last carries usage: null, as OpenAI sends it.
    ...(includeUsage ? { usage: null } : {}),
  });
  const body = (text: string) => (kind === 'chat' ? { delta: { content: text } } : { text });
  return {
    start: () =>
      kind === 'chat'
        ? chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null })
        : chunk({ text: '', finish_reason: null, logprobs: null }),
    delta: (text) => chunk({ ...body(text), finish_reason: null, logprobs: null }),
    finish: (result) =>
      chunk({
        ...(kind === 'chat' ? { delta: {} } : { text: '' }),
        finish_reason: openAiFinishReason(result.finishReason),
        logprobs: null,
      }),
    usage: (result, promptTokens) => ({
      id: who.id,
      object,
      created: who.created,
      model: who.model,
      choices: [],
      usage: usage(result, promptTokens),
    }),
  };
}
