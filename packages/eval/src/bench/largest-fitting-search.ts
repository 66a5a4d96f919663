// The search behind `duo bench capacity`: the largest token count that passes a probe (load, fill,
// decode, stay within the budget), starting from the memory planner's figure. Probing is expensive
// (an executor of that size is allocated each time), so the search first tries the count a failed
// probe's measurements suggest, else steps down with a doubling back-off until a probe passes, then
// bisects between that and the smallest failure.
import { EvalOptionError } from '../errors.js';

/** What a probe at some token count found: it fits (with what it measured), or why not. */
export type ProbeOutcome<T> =
  | { readonly fits: true; readonly value: T }
  | {
      readonly fits: false;
      readonly reason: string;
      /**
       * A smaller count this probe's measurements say should fit (e.g. the count less the bytes over
       * budget divided by the bytes per token), tried next; ignored unless the first probe gives it.
       */
      readonly suggestion?: number;
    };

/** One probe of a search, in the order they ran. */
export interface ProbeRecord {
  readonly tokens: number;
  readonly fits: boolean;
  /** Why it did not fit (absent when it fit). */
  readonly reason?: string;
}

/** Options of {@link searchLargestFitting}. */
export interface LargestFittingSearchOptions<T> {
  /** The first candidate (the planner's figure); a positive integer. */
  readonly start: number;
  /**
   * Stop bisecting when the largest passing and the smallest failing count are this close (tokens).
   * Default `max(1, floor(start / 1000))`: within 0.1% of the planned figure.
   */
  readonly resolution?: number;
  /** The smallest count worth probing (default 1); below it nothing fits. */
  readonly min?: number;
  /** First step down as a fraction of `start` (default 0.01); each further step doubles it. */
  readonly backoff?: number;
  /** Runs the probe at `tokens`. Must dispose whatever it allocated before it resolves. */
  readonly probe: (tokens: number) => Promise<ProbeOutcome<T>>;
  readonly onProbe?: (record: ProbeRecord) => void;
}

/** The result of {@link searchLargestFitting}. */
export interface LargestFitting<T> {
  /** The largest count that passed; 0 when none did (down to `min`). */
  readonly tokens: number;
  /** What the probe at `tokens` measured; absent when nothing fit. */
  readonly value?: T;
  readonly probes: readonly ProbeRecord[];
}

/**
 * The largest token count in `[min, start]` that passes `probe`, assuming that fitting is monotonic
 * (if `n` fits, every smaller count fits). Tries `start` first: when the planner is right that is the
 * only probe. Otherwise it tries the first probe's suggestion, if any (3 probes in all when that is
 * right: start, the suggestion, one resolution above it), else steps down by `backoff · start`,
 * `2 · backoff · start`, `4 · ...` below the smallest failure until a probe passes (or `min` fails),
 * then bisects to `resolution`: about `log2(1 / backoff) + log2(gap / resolution)` probes.
 */
export async function searchLargestFitting<T>(
  options: LargestFittingSearchOptions<T>,
): Promise<LargestFitting<T>> {
  const { start, probe } = options;
  if (!Number.isSafeInteger(start) || start < 1) {
    throw new EvalOptionError(`the search must start at a positive integer token count (got ${start})`);
  }
  const resolution = options.resolution ?? Math.max(1, Math.floor(start / 1000));
  if (!Number.isSafeInteger(resolution) || resolution < 1) {
    throw new EvalOptionError(`search resolution must be a positive integer (got ${resolution})`);
  }
  const min = options.min ?? 1;
  if (!Number.isSafeInteger(min) || min < 1 || min > start) {
    throw new EvalOptionError(`the search's smallest count must be an integer in [1, ${start}] (got ${min})`);
  }
  const backoff = options.backoff ?? 0.01;
  if (!(backoff > 0 && backoff <= 1)) {
    throw new EvalOptionError(`search backoff must be in (0, 1] (got ${backoff})`);
  }
  const probes: ProbeRecord[] = [];
  const run = async (tokens: number): Promise<ProbeOutcome<T>> => {
    const outcome = await probe(tokens);
    const record: ProbeRecord = outcome.fits
      ? { tokens, fits: true }
      : { tokens, fits: false, reason: outcome.reason };
    probes.push(record);
    options.onProbe?.(record);
    return outcome;
  };

  const first = await run(start);
  if (first.fits) return { tokens: start, value: first.value, probes };

  // hi is always the smallest count known to fail, lo the largest known to fit (0: none yet).
  let hi = start;
  let lo = 0;
  let best: T | undefined;
  // 1. The count the first probe's measurements suggest: usually exact when the planner's error is a
  //    constant (bytes it does not count), so bisection then starts just above it.
  let tight = false;
  const suggestion = first.suggestion;
  if (
    suggestion !== undefined &&
    Number.isSafeInteger(suggestion) &&
    suggestion >= min &&
    suggestion < start
  ) {
    const outcome = await run(suggestion);
    if (outcome.fits) {
      lo = suggestion;
      best = outcome.value;
      tight = true;
    } else {
      hi = suggestion;
    }
  }
  // 2. Back off from the smallest failure until something fits.
  const top = hi;
  let step = Math.max(1, Math.ceil(start * backoff));
  while (lo === 0) {
    if (hi === min) return { tokens: 0, probes };
    const candidate = Math.max(min, top - step);
    const outcome = await run(candidate);
    if (outcome.fits) {
      lo = candidate;
      best = outcome.value;
    } else {
      hi = candidate;
      step *= 2;
    }
  }
  // 3. Bisect: lo fits, hi does not. After a suggestion that fit, try one resolution above it first.
  while (hi - lo > resolution) {
    const mid = tight ? lo + resolution : lo + Math.floor((hi - lo) / 2);
    tight = false;
    const outcome = await run(mid);
    if (outcome.fits) {
      lo = mid;
      best = outcome.value;
    } else {
      hi = mid;
    }
  }
  return { tokens: lo, value: best as T, probes };
}
