// The error base every duo-attn package throws from. A Symbol.for marker (not instanceof) identifies
// our errors, so two copies of a package in one process still recognise each other's errors.

const DUO_ERROR_MARKER = Symbol.for('duo-attn.error');

/** Where in a file an error was found. Lines and columns are 1-based. */
export interface SourceLocation {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
}

/** Base class of every error thrown by duo-attn packages. `code` is stable and scriptable. */
export class DuoError extends Error {
  readonly [DUO_ERROR_MARKER] = true;
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DuoError';
    this.code = code;
  }

  /** True for any duo-attn error, even one thrown by another copy of the package. */
  static isInstance(value: unknown): value is DuoError {
    return typeof value === 'object' && value !== null && DUO_ERROR_MARKER in value;
  }
}

/** Formats a location as `file:line:column` (omitting what is unknown). */
export function formatLocation(location: SourceLocation): string {
  let text = location.file;
  if (location.line !== undefined) text += `:${location.line}`;
  if (location.line !== undefined && location.column !== undefined) text += `:${location.column}`;
  return text;
}
