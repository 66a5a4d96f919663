// The one error type of the policy module, so callers can tell a bad mask or bad sink/recent sizes
// from every other failure by its stable code.
import { DuoError } from '../errors.js';

/** A KV-cache policy (or the mask it is built from) is malformed or does not fit the model. */
export class PolicyError extends DuoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_POLICY', message, options);
    this.name = 'PolicyError';
  }
}
