// Typed errors of the patterns package. Each names the file and, where it applies, the line and
// column (1-based; a column is a tab-separated cell) so a user can go straight to the fault.
import { DuoError, formatLocation, type SourceLocation } from '@duo-attn/core';

/** A pattern file is missing, unreadable or malformed. */
export class PatternFormatError extends DuoError {
  readonly location: SourceLocation;

  constructor(location: SourceLocation, problem: string, options?: { cause?: unknown }) {
    super('E_PATTERN_FORMAT', `${formatLocation(location)}: ${problem}`, options);
    this.name = 'PatternFormatError';
    this.location = location;
  }
}

/** A pattern's shape does not match the model it is used with. */
export class PatternShapeError extends DuoError {
  constructor(message: string) {
    super('E_PATTERN_SHAPE', message);
    this.name = 'PatternShapeError';
  }
}

/** An option (sparsity, threshold, seed, head dim…) is out of its domain. */
export class PatternOptionError extends DuoError {
  constructor(message: string) {
    super('E_PATTERN_OPTION', message);
    this.name = 'PatternOptionError';
  }
}
