// Typed errors of the engine, so callers (CLI, server) can tell bad requests from backend faults.
import { DuoError } from '../errors.js';

/** A prompt, id list or option passed to the engine is invalid (code `E_ENGINE_INPUT`). */
export class EngineInputError extends DuoError {
  constructor(message: string) {
    super('E_ENGINE_INPUT', message);
    this.name = 'EngineInputError';
  }
}

/** A backend returned logits that break the contract of `Executor.forward` (code `E_BACKEND_RESULT`). */
export class BackendResultError extends DuoError {
  constructor(message: string) {
    super('E_BACKEND_RESULT', message);
    this.name = 'BackendResultError';
  }
}

/**
 * A request does not fit the model's context: the prompt (plus the tokens asked for) is longer
 * than `contextLength` positions (code `E_CONTEXT_LENGTH`). The message names both numbers.
 */
export class ContextLengthError extends DuoError {
  /** Tokens of the prompt (or of the ids scored). */
  readonly promptTokens: number;
  /** Tokens asked for on top (0 for scoring). */
  readonly maxNewTokens: number;
  /** Positions the model may use. */
  readonly contextLength: number;

  constructor(promptTokens: number, maxNewTokens: number, contextLength: number, what = 'the prompt') {
    const asked =
      maxNewTokens > 0
        ? `${what} has ${promptTokens} tokens and ${maxNewTokens} new tokens were asked for (${promptTokens + maxNewTokens} in all)`
        : `${what} has ${promptTokens} tokens`;
    const hint =
      maxNewTokens > 0
        ? 'shorten the prompt, ask for fewer new tokens, or truncate the prompt'
        : `give at most ${contextLength} ids`;
    super(
      'E_CONTEXT_LENGTH',
      `${asked}, but the model's context is ${contextLength} tokens (max_position_embeddings); ${hint}`,
    );
    this.name = 'ContextLengthError';
    this.promptTokens = promptTokens;
    this.maxNewTokens = maxNewTokens;
    this.contextLength = contextLength;
  }
}
