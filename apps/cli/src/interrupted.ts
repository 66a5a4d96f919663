// An interrupt (Ctrl-C) is not a success: commands that were stopped say what they kept and the CLI
// exits 130, the shell's code for a run ended by SIGINT.
import { DuoError } from '@duo-attn/core';

/** Exit code of a command stopped by an interrupt (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/** A command stopped by the user's interrupt; the message says what was kept. Code `E_INTERRUPTED`. */
export class InterruptedError extends DuoError {
  constructor(message: string) {
    super('E_INTERRUPTED', message);
    this.name = 'InterruptedError';
  }
}
