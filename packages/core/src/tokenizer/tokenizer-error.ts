// The one error type tokenizer loading and use throw, so callers can tell a broken tokenizer directory
// (or a bad token id, or a chat request the model cannot serve) from other failures by `reason`.

import { DuoError } from '../errors.js';

/** Stable error code of every {@link TokenizerError}. */
export const TOKENIZER_ERROR_CODE = 'E_TOKENIZER';

/** What went wrong, for callers that branch on it. */
export type TokenizerErrorReason =
  /** A required file (tokenizer.json) is not in the directory. */
  | 'missing-file'
  /** A file is not valid JSON, or cannot be read. */
  | 'invalid-json'
  /** A file is JSON but a field has the wrong shape. */
  | 'invalid-config'
  /** The tokenizer uses a model type or component `@huggingface/tokenizers` cannot run. */
  | 'unsupported'
  /** A chat template was requested but the tokenizer has none. */
  | 'no-chat-template'
  /** The chat template failed to parse or render (including `raise_exception`). */
  | 'chat-template'
  /** A token id passed to decode is not in the vocabulary. */
  | 'token-id';

/** Error thrown by tokenizer loading, decoding and chat templating. Names the file involved. */
export class TokenizerError extends DuoError {
  /** What went wrong. */
  readonly reason: TokenizerErrorReason;
  /** The file the problem is in, when there is one. */
  readonly file: string | undefined;

  constructor(
    reason: TokenizerErrorReason,
    message: string,
    options?: { readonly file?: string; readonly cause?: unknown },
  ) {
    super(TOKENIZER_ERROR_CODE, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokenizerError';
    this.reason = reason;
    this.file = options?.file;
  }
}
