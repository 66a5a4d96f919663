// Typed errors of backend selection and of executors. Every backend throws these same codes, so
// the engine, the CLI and the conformance suite can react to a cause without parsing messages.
import { DuoError } from '../errors.js';

/** No backend of the requested name is registered. Code `E_BACKEND_UNKNOWN`. */
export class BackendNotFoundError extends DuoError {
  constructor(message: string) {
    super('E_BACKEND_UNKNOWN', message);
    this.name = 'BackendNotFoundError';
  }
}

/** A backend (or every backend) cannot run here; the message names each cause. Code `E_BACKEND_UNAVAILABLE`. */
export class BackendUnavailableError extends DuoError {
  /** Each backend considered and why it was not used. */
  readonly causes: readonly { readonly name: string; readonly reason: string }[];

  constructor(message: string, causes: readonly { name: string; reason: string }[]) {
    super('E_BACKEND_UNAVAILABLE', message);
    this.name = 'BackendUnavailableError';
    this.causes = causes;
  }
}

/** A different backend is already registered under this name, or the registration is malformed. Code `E_BACKEND_REGISTRATION`. */
export class BackendRegistrationError extends DuoError {
  constructor(message: string) {
    super('E_BACKEND_REGISTRATION', message);
    this.name = 'BackendRegistrationError';
  }
}

/** A model cannot be loaded: malformed config or weights, unsupported feature. Code `E_MODEL_UNSUPPORTED` or `E_WEIGHTS`. */
export class ModelLoadError extends DuoError {
  constructor(code: 'E_MODEL_UNSUPPORTED' | 'E_WEIGHTS' | 'E_LOAD_OPTIONS', message: string) {
    super(code, message);
    this.name = 'ModelLoadError';
  }
}

/** A forward pass would need more than `maxTokens` tokens in a sequence. Code `E_CAPACITY`. Nothing was changed. */
export class CapacityError extends DuoError {
  constructor(message: string) {
    super('E_CAPACITY', message);
    this.name = 'CapacityError';
  }
}

/** A token id is not an integer in `[0, vocabSize)`. Code `E_TOKEN_ID`. */
export class TokenIdError extends DuoError {
  readonly tokenId: unknown;
  /** Index of the offending token in the call's `tokens`. */
  readonly index: number;

  constructor(tokenId: unknown, index: number, vocabSize: number) {
    super('E_TOKEN_ID', `token id ${String(tokenId)} at index ${index} is outside [0, ${vocabSize})`);
    this.name = 'TokenIdError';
    this.tokenId = tokenId;
    this.index = index;
  }
}

/** Bad executor call arguments: sequence index out of range, empty token list. Code `E_INPUT`. */
export class ExecutorInputError extends DuoError {
  constructor(message: string) {
    super('E_INPUT', message);
    this.name = 'ExecutorInputError';
  }
}

/** The executor was disposed. Code `E_DISPOSED`. */
export class DisposedError extends DuoError {
  constructor(what: string) {
    super('E_DISPOSED', `${what}: the executor has been disposed`);
    this.name = 'DisposedError';
  }
}

/** The call was aborted through its AbortSignal. Code `E_ABORTED`. The sequence is unchanged. */
export class AbortedError extends DuoError {
  constructor(what: string, reason: unknown) {
    super('E_ABORTED', `${what} was aborted`, { cause: reason });
    this.name = 'AbortedError';
  }
}

/** A state change was requested on a sequence while a forward pass on it is running. Code `E_BUSY`. */
export class ExecutorBusyError extends DuoError {
  constructor(message: string) {
    super('E_BUSY', message);
    this.name = 'ExecutorBusyError';
  }
}
