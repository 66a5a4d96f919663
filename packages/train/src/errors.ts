// Typed errors of gate training, so the CLI can tell a bad option or dataset from a backend fault.
import { DuoError } from '@duo-attn/core';

/** A training option is invalid (code `E_TRAIN_OPTION`); the message names the option and value. */
export class TrainOptionError extends DuoError {
  constructor(message: string) {
    super('E_TRAIN_OPTION', message);
    this.name = 'TrainOptionError';
  }
}

/**
 * The training data cannot be built (code `E_TRAIN_DATA`): a haystack too short for the longest
 * context, templates whose pieces do not fit, a context with no room for the passkeys.
 */
export class TrainDataError extends DuoError {
  constructor(message: string) {
    super('E_TRAIN_DATA', message);
    this.name = 'TrainDataError';
  }
}

/** A checkpoint cannot be read or does not belong to this run (code `E_TRAIN_CHECKPOINT`). */
export class TrainCheckpointError extends DuoError {
  /** The checkpoint file at fault. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('E_TRAIN_CHECKPOINT', message, options);
    this.name = 'TrainCheckpointError';
    this.path = path;
  }
}
