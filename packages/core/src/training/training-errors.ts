// Typed errors of the gate-training contract shared by every backend.
import { DuoError } from '../errors.js';

/** A training streaming mask is malformed (code `E_TRAINING_MASK`). */
export class TrainingMaskError extends DuoError {
  constructor(message: string) {
    super('E_TRAINING_MASK', message);
    this.name = 'TrainingMaskError';
  }
}

/** A gate-training request is malformed (code `E_TRAINING_INPUT`): ids, labels or gates. */
export class TrainingInputError extends DuoError {
  constructor(message: string) {
    super('E_TRAINING_INPUT', message);
    this.name = 'TrainingInputError';
  }
}
