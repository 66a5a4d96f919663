// The in-memory attention pattern: one gate alpha[layer][kvHead] per KV head, plus the sink and
// recent sizes the pattern was trained with, and the training run's config as the original saved it.
import { PatternOptionError, PatternShapeError } from './errors.js';

/** A matrix of numbers, rows = layers, columns = KV heads. */
export type Matrix = readonly (readonly number[])[];

/** An attention pattern as read from (or written to) a pattern directory. */
export interface AttentionPattern {
  readonly numLayers: number;
  readonly numKvHeads: number;
  /** Attention-sink tokens a streaming head keeps (`sink_size` of config.json). */
  readonly sinkSize: number;
  /** Recent tokens a streaming head keeps (`recent_size` of config.json). */
  readonly recentSize: number;
  /** Gates clipped to [0, 1], `[numLayers][numKvHeads]`. Everything but writing uses these. */
  readonly alpha: Matrix;
  /**
   * Gates exactly as stored (the original does not clamp after its last step, so values may be
   * slightly negative). Kept so a read-then-write round-trips byte-identical.
   */
  readonly storedAlpha: Matrix;
  /** Every key of config.json (the original dumps its whole argparse namespace there). */
  readonly config: Readonly<Record<string, unknown>>;
  /** config.json's text as read, written back verbatim while `config` still equals it. */
  readonly configText?: string;
}

/** What is needed to build a pattern in memory. */
export interface CreatePatternInit {
  /** Gates, `[numLayers][numKvHeads]`; clipped to [0, 1] for `alpha`, stored as given. */
  readonly alpha: Matrix;
  readonly sinkSize: number;
  readonly recentSize: number;
  /** Extra config keys (e.g. the training run's options); `sink_size`/`recent_size` are set from above. */
  readonly config?: Readonly<Record<string, unknown>>;
  readonly configText?: string;
}

/** Clips into [0, 1] as the original's loaders do. */
export function clipGate(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/** Builds a validated pattern; copies its inputs so later changes to them cannot leak in. */
export function createPattern(init: CreatePatternInit): AttentionPattern {
  assertWindowSize('sinkSize', init.sinkSize);
  assertWindowSize('recentSize', init.recentSize);
  const numLayers = init.alpha.length;
  if (numLayers === 0) throw new PatternShapeError('a pattern needs at least one layer');
  const numKvHeads = init.alpha[0]!.length;
  if (numKvHeads === 0) throw new PatternShapeError('a pattern needs at least one KV head per layer');
  const storedAlpha = init.alpha.map((row, layer) => {
    if (row.length !== numKvHeads) {
      throw new PatternShapeError(`layer ${layer} has ${row.length} gates, layer 0 has ${numKvHeads}`);
    }
    return row.map((value, kvHead) => {
      if (!Number.isFinite(value)) {
        throw new PatternOptionError(
          `gate at layer ${layer}, KV head ${kvHead} is not a finite number: ${value}`,
        );
      }
      return value;
    });
  });
  return {
    numLayers,
    numKvHeads,
    sinkSize: init.sinkSize,
    recentSize: init.recentSize,
    alpha: storedAlpha.map((row) => row.map(clipGate)),
    storedAlpha,
    config: { ...init.config, sink_size: init.sinkSize, recent_size: init.recentSize },
    ...(init.configText !== undefined ? { configText: init.configText } : {}),
  };
}

/** Throws unless the pattern has exactly the given layer and KV-head counts. */
export function assertPatternShape(
  pattern: Pick<AttentionPattern, 'numLayers' | 'numKvHeads'>,
  expected: { numLayers?: number; numKvHeads?: number },
  what = 'pattern',
): void {
  const problems: string[] = [];
  if (expected.numLayers !== undefined && expected.numLayers !== pattern.numLayers) {
    problems.push(`${pattern.numLayers} layers where the model has ${expected.numLayers}`);
  }
  if (expected.numKvHeads !== undefined && expected.numKvHeads !== pattern.numKvHeads) {
    problems.push(`${pattern.numKvHeads} KV heads per layer where the model has ${expected.numKvHeads}`);
  }
  if (problems.length > 0) throw new PatternShapeError(`${what} has ${problems.join(' and ')}`);
}

function assertWindowSize(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new PatternOptionError(`${name} must be a non-negative integer, got ${value}`);
  }
}
