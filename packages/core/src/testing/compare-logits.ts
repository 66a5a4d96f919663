// Tolerance checks with max-diff reporting: a failure says how far off, and where.

/** How far `actual` is from `expected`, with the worst element's place. */
export interface LogitsComparison {
  readonly maxAbsoluteError: number;
  /** maxAbsoluteError / max |expected| (scale-free, for low-precision backends). */
  readonly relativeError: number;
  readonly worstRow: number;
  readonly worstColumn: number;
}

/** Compares two `[rows, columns]` f32 matrices element-wise. */
export function compareLogits(
  actual: Float32Array,
  expected: Float32Array,
  columns: number,
): LogitsComparison {
  if (actual.length !== expected.length) {
    throw new Error(
      `shape mismatch: ${actual.length / columns} rows vs ${expected.length / columns} expected`,
    );
  }
  let maxAbsoluteError = 0;
  let maxExpected = 0;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    // NaN must fail loudly, never hide behind a comparison that is always false.
    if (!(error <= maxAbsoluteError)) {
      maxAbsoluteError = Number.isNaN(error) ? Number.POSITIVE_INFINITY : error;
      worst = i;
    }
    maxExpected = Math.max(maxExpected, Math.abs(expected[i]!));
  }
  return {
    maxAbsoluteError,
    relativeError: maxExpected === 0 ? maxAbsoluteError : maxAbsoluteError / maxExpected,
    worstRow: Math.floor(worst / columns),
    worstColumn: worst % columns,
  };
}

/** Formats a comparison for assertion messages. */
export function describeComparison(what: string, comparison: LogitsComparison): string {
  return (
    `${what}: max |error| ${comparison.maxAbsoluteError.toExponential(3)} ` +
    `(relative ${comparison.relativeError.toExponential(3)}) at row ${comparison.worstRow}, column ${comparison.worstColumn}`
  );
}
