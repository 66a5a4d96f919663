// Typed errors of the eval package, so callers (CLI, training scripts) can tell bad options from
// I/O failures by a stable code.
import { DuoError } from '@duo-attn/core';

/** An eval option (haystack length, seed, output path...) is out of its domain. */
export class EvalOptionError extends DuoError {
  constructor(message: string) {
    super('E_EVAL_OPTION', message);
    this.name = 'EvalOptionError';
  }
}
