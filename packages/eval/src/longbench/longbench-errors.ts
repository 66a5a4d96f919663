// Typed errors of the LongBench evaluation, each naming the file, line or setting that is wrong.
import { DuoError } from '@duo-attn/core';

/** A LongBench data or table file is missing or malformed; the message names the file and line. */
export class LongBenchDataError extends DuoError {
  constructor(message: string) {
    super('E_LONGBENCH_DATA', message);
    this.name = 'LongBenchDataError';
  }
}

/**
 * A results file was written with other settings than the current run's (or is not a results file):
 * resuming into it would mix runs. The message names every setting that differs.
 */
export class LongBenchResumeError extends DuoError {
  constructor(message: string) {
    super('E_LONGBENCH_RESUME', message);
    this.name = 'LongBenchResumeError';
  }
}
