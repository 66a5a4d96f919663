import { describe, expect, it } from 'vitest';
import { EvalOptionError } from '../errors.js';
import { type ProbeOutcome, searchLargestFitting } from './largest-fitting-search.js';

/** A probe that fits up to `limit` tokens (monotonic, as memory is), recording what it was asked. */
function thresholdProbe(limit: number) {
  const asked: number[] = [];
  const probe = async (tokens: number): Promise<ProbeOutcome<string>> => {
    asked.push(tokens);
    return tokens <= limit
      ? { fits: true, value: `ran ${tokens}` }
      : { fits: false, reason: `${tokens} > ${limit}` };
  };
  return { probe, asked };
}

describe('searchLargestFitting', () => {
  it('probes once when the planned figure fits', async () => {
    const { probe, asked } = thresholdProbe(1000);
    const result = await searchLargestFitting({ start: 1000, probe });
    expect(result).toEqual({ tokens: 1000, value: 'ran 1000', probes: [{ tokens: 1000, fits: true }] });
    expect(asked).toEqual([1000]);
  });

  it('steps down with a doubling back-off, then bisects to the exact limit at resolution 1', async () => {
    const { probe, asked } = thresholdProbe(9123);
    const records: number[] = [];
    const result = await searchLargestFitting({
      start: 10_000,
      resolution: 1,
      probe,
      onProbe: (r) => records.push(r.tokens),
    });
    expect(result.tokens).toBe(9123);
    expect(result.value).toBe('ran 9123');
    // 10000 fails, then 9900, 9800, 9600, 9200 fail and 8400 fits; the rest is bisection.
    expect(asked.slice(0, 6)).toEqual([10_000, 9900, 9800, 9600, 9200, 8400]);
    expect(records).toEqual(asked);
    expect(result.probes.filter((p) => !p.fits).every((p) => p.tokens > 9123 && p.reason !== undefined)).toBe(
      true,
    );
    // log2(800) bisection steps after the back-off, not a linear walk.
    expect(asked.length).toBeLessThanOrEqual(6 + 10);
  });

  it('tries the suggestion of the first failure, then one resolution above it, before anything else', async () => {
    const limit = 7777;
    const asked: number[] = [];
    const probe = async (tokens: number): Promise<ProbeOutcome<number>> => {
      asked.push(tokens);
      // An exact suggestion, as a constant overshoot gives: 3 probes in all.
      return tokens <= limit
        ? { fits: true, value: tokens }
        : { fits: false, reason: 'over', suggestion: limit };
    };
    expect((await searchLargestFitting({ start: 9000, resolution: 1, probe })).tokens).toBe(limit);
    expect(asked).toEqual([9000, limit, limit + 1]);

    // A pessimistic suggestion (it fits, and so does more): bisection goes on above it.
    const pessimistic = thresholdProbe(8500);
    const suggesting = async (tokens: number): Promise<ProbeOutcome<string>> => {
      const outcome = await pessimistic.probe(tokens);
      return outcome.fits ? outcome : { ...outcome, suggestion: 8000 };
    };
    expect((await searchLargestFitting({ start: 9000, resolution: 1, probe: suggesting })).tokens).toBe(8500);
    expect(pessimistic.asked.slice(0, 3)).toEqual([9000, 8000, 8001]);

    // An optimistic one (it fails): the back-off starts below it.
    const optimistic = thresholdProbe(5000);
    const wrong = async (tokens: number): Promise<ProbeOutcome<string>> => {
      const outcome = await optimistic.probe(tokens);
      return outcome.fits ? outcome : { ...outcome, suggestion: 8000 };
    };
    expect((await searchLargestFitting({ start: 9000, resolution: 1, probe: wrong })).tokens).toBe(5000);
    expect(optimistic.asked.slice(0, 3)).toEqual([9000, 8000, 7910]);
    // Suggestions out of range (not below the start) are ignored.
    const ignored = thresholdProbe(100);
    const outOfRange = async (tokens: number): Promise<ProbeOutcome<string>> => {
      const outcome = await ignored.probe(tokens);
      return outcome.fits ? outcome : { ...outcome, suggestion: 2000 };
    };
    await searchLargestFitting({ start: 1000, probe: outOfRange });
    expect(ignored.asked.slice(0, 2)).toEqual([1000, 990]);
  });

  it('stops within the resolution: the result fits and one more resolution step does not', async () => {
    const { probe } = thresholdProbe(654_321);
    const result = await searchLargestFitting({ start: 1_000_000, probe });
    // Default resolution: 0.1% of the start.
    expect(result.tokens).toBeLessThanOrEqual(654_321);
    expect(654_321 - result.tokens).toBeLessThanOrEqual(1000);
    const smallestFailure = Math.min(...result.probes.filter((p) => !p.fits).map((p) => p.tokens));
    expect(smallestFailure - result.tokens).toBeLessThanOrEqual(1000);
  });

  it('returns 0 when not even one token fits, and rejects bad options', async () => {
    const { probe, asked } = thresholdProbe(0);
    const result = await searchLargestFitting({ start: 500, probe });
    expect(result.tokens).toBe(0);
    expect(result.value).toBeUndefined();
    expect(asked.at(-1)).toBe(1);
    const above = thresholdProbe(0);
    expect((await searchLargestFitting({ start: 500, min: 20, probe: above.probe })).tokens).toBe(0);
    expect(Math.min(...above.asked)).toBe(20);
    await expect(searchLargestFitting({ start: 0, probe })).rejects.toThrow(EvalOptionError);
    await expect(searchLargestFitting({ start: 1.5, probe })).rejects.toThrow(/positive integer/);
    await expect(searchLargestFitting({ start: 10, resolution: 0, probe })).rejects.toThrow(/resolution/);
    await expect(searchLargestFitting({ start: 10, backoff: 2, probe })).rejects.toThrow(/backoff/);
    await expect(searchLargestFitting({ start: 10, min: 11, probe })).rejects.toThrow(/smallest count/);
  });

  it('passes a probe error through (only a failed fit steps down)', async () => {
    const probe = async (): Promise<ProbeOutcome<number>> => {
      throw new TypeError('a bug, not a full memory');
    };
    await expect(searchLargestFitting({ start: 10, probe })).rejects.toThrow(TypeError);
  });
});
