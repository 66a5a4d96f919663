// Typed errors of the entry point. Everything else it throws comes from core or patterns and keeps
// their codes (ContextLengthError, TokenizerError, BackendUnavailableError, PatternOptionError...).
import { DuoError } from '@duo-attn/core';

/** The model was disposed; it can no longer generate (code `E_MODEL_DISPOSED`). */
export class ModelDisposedError extends DuoError {
  constructor(what: string) {
    super('E_MODEL_DISPOSED', `cannot ${what}: the model has been disposed`);
    this.name = 'ModelDisposedError';
  }
}

/** An option of loadLanguageModel or of a generation is invalid (code `E_LLM_OPTION`). */
export class LlmOptionError extends DuoError {
  constructor(message: string) {
    super('E_LLM_OPTION', message);
    this.name = 'LlmOptionError';
  }
}

/** A stream was iterated twice (code `E_STREAM_REUSED`). */
export class StreamReusedError extends DuoError {
  constructor() {
    super('E_STREAM_REUSED', 'a generation stream can be iterated only once');
    this.name = 'StreamReusedError';
  }
}
