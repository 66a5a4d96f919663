// A conversation with a model: messages rendered by the model's chat template, one turn at a time.
// The session's KV cache carries over between turns: when the new conversation's tokens start with
// everything the cache holds, only the new tokens are prefilled; otherwise (an edited history, a
// reply whose text re-encodes differently, turns dropped to fit the context, another session used
// the model in between) the prompt is prefilled from scratch. The cache is never cut back to a
// shorter common prefix: streaming heads keep only sinks and recent tokens, so the tokens such a
// cut would need again are gone.
import { type ChatMessage, ContextLengthError, type GenerateResult, type Tokenizer } from '@duo-attn/core';
import { LlmOptionError } from './errors.js';
import type { GenerationOptions } from './generation-options.js';
import type { GenerationStream } from './generation-stream.js';
import type { LanguageModel } from './language-model.js';

/** Options of {@link LanguageModel.createChatSession}. */
export interface ChatSessionOptions {
  /** A system message placed first in every prompt. */
  readonly systemPrompt?: string;
  /** Earlier messages (user/assistant turns) to continue from. */
  readonly history?: readonly ChatMessage[];
}

/** A multi-turn conversation. Create it with {@link LanguageModel.createChatSession}. */
export class ChatSession {
  readonly systemPrompt: string | undefined;
  #messages: ChatMessage[];

  /** @internal */
  constructor(
    private readonly model: LanguageModel,
    private readonly tokenizer: Tokenizer,
    options: ChatSessionOptions,
  ) {
    this.systemPrompt = options.systemPrompt;
    this.#messages = checkMessages(options.history ?? []);
  }

  /** The conversation so far (user and assistant messages, without the system prompt). */
  get history(): readonly ChatMessage[] {
    return this.#messages.map((message) => ({ ...message }));
  }

  /** Replaces the conversation (e.g. to edit or drop turns); the next turn re-prefills where it diverges. */
  setHistory(messages: readonly ChatMessage[]): void {
    this.#messages = checkMessages(messages);
  }

  /**
   * Sends a user message and returns the model's reply (`text`) with its tokens and timing. The
   * message and the reply join the history when the reply ends, also when aborted (with what was
   * generated so far).
   */
  async prompt(text: string, options: GenerationOptions = {}): Promise<GenerateResult> {
    return this.stream(text, options).collect();
  }

  /**
   * Like {@link prompt}, streaming the reply's tokens as they are generated. The turn is rendered
   * and queued when iteration starts, so turns run in the order their streams are first read.
   */
  stream(text: string, options: GenerationOptions = {}): GenerationStream {
    if (typeof text !== 'string')
      throw new LlmOptionError(`a chat message must be a string, got ${typeof text}`);
    return this.model._stream(
      this,
      () => this.#promptIds(text, options),
      options,
      (result) => {
        if (result.tokens.length === 0) return;
        this.#messages.push({ role: 'user', content: text }, { role: 'assistant', content: result.text });
      },
    );
  }

  /**
   * The token ids of the conversation plus `text`, ending with the assistant's turn. When they do
   * not fit the context with the reply, the oldest turns are left out of the prompt (the history
   * keeps them); a last message that alone does not fit is refused (unless truncation is asked for).
   */
  #promptIds(text: string, options: GenerationOptions): number[] {
    const system: ChatMessage[] =
      this.systemPrompt === undefined ? [] : [{ role: 'system', content: this.systemPrompt }];
    let turns: ChatMessage[] = [...this.#messages, { role: 'user', content: text }];
    const room = this.model.contextLength - this.model.maxNewTokensOf(options);
    for (;;) {
      // The template places BOS and every other special token itself.
      const rendered = this.tokenizer.applyChatTemplate([...system, ...turns], { addGenerationPrompt: true });
      const ids = this.tokenizer.encode(rendered, { addSpecialTokens: false });
      if (ids.length <= room) return ids;
      const next = turns.findIndex((message, i) => i > 0 && message.role === 'user');
      if (next <= 0) {
        if (options.truncate !== undefined && options.truncate !== 'error') return ids;
        throw new ContextLengthError(
          ids.length,
          this.model.maxNewTokensOf(options),
          this.model.contextLength,
          'the chat prompt',
        );
      }
      turns = turns.slice(next);
    }
  }
}

function checkMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message, i) => {
    if (typeof message?.role !== 'string' || typeof message.content !== 'string') {
      throw new LlmOptionError(`history[${i}] must be { role: string, content: string }`);
    }
    return { role: message.role, content: message.content };
  });
}
