// Which keys a streaming head sees during gate training (DESIGN §3): the token-level Lambda mask,
// key j visible to query i iff j <= i and (j < S or j > i - R), or the original's block version
// (its block-sparse kernel: query block b sees key blocks [0, ceil(S/B)) and (b - ceil(R/B), b],
// causally). Token-level is the default: it is what inference does.
import { TrainingMaskError } from './training-errors.js';

/** The streaming mask of training. */
export interface TrainingStreamingMask {
  readonly kind: 'token' | 'block';
  /** S: sink tokens. */
  readonly sinkSize: number;
  /** R: recent tokens, the query's own position included. */
  readonly recentSize: number;
  /** B, for `kind: 'block'` (the original: 128). */
  readonly blockSize?: number;
}

/** Block size of the original's block-sparse streaming attention. */
export const ORIGINAL_BLOCK_SIZE = 128;

/** Throws {@link TrainingMaskError} for a mask whose sizes are not usable. */
export function checkStreamingMask(mask: TrainingStreamingMask): void {
  if (mask.kind !== 'token' && mask.kind !== 'block') {
    throw new TrainingMaskError(`mask kind must be token or block, got ${String(mask.kind)}`);
  }
  for (const [name, value] of [
    ['sinkSize', mask.sinkSize],
    ['recentSize', mask.recentSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TrainingMaskError(`${name} must be a non-negative integer, got ${value}`);
    }
  }
  if (mask.recentSize < 1) throw new TrainingMaskError('recentSize must be >= 1 (a query sees itself)');
  if (mask.kind === 'block') {
    const block = mask.blockSize ?? ORIGINAL_BLOCK_SIZE;
    if (!Number.isSafeInteger(block) || block < 1) {
      throw new TrainingMaskError(`blockSize must be a positive integer, got ${block}`);
    }
  }
}

/**
 * The keys query `query` sees, as at most two half-open ranges `[start, end)` in ascending order
 * (the sink part and the recent part; merged when they touch). Every range ends at or before
 * `query + 1`.
 */
export function visibleKeyRanges(mask: TrainingStreamingMask, query: number): [number, number][] {
  let sinkEnd: number;
  let recentStart: number;
  if (mask.kind === 'token') {
    sinkEnd = mask.sinkSize;
    recentStart = query - mask.recentSize + 1;
  } else {
    const block = mask.blockSize ?? ORIGINAL_BLOCK_SIZE;
    sinkEnd = Math.ceil(mask.sinkSize / block) * block;
    const localBlocks = Math.ceil(mask.recentSize / block);
    recentStart = (Math.floor(query / block) - localBlocks + 1) * block;
  }
  const end = query + 1;
  sinkEnd = Math.min(sinkEnd, end);
  recentStart = Math.max(recentStart, 0);
  if (recentStart <= sinkEnd) return [[0, end]];
  return sinkEnd > 0
    ? [
        [0, sinkEnd],
        [recentStart, end],
      ]
    : [[recentStart, end]];
}

/** Whether query `query` sees key `key` (the predicate {@link visibleKeyRanges} describes). */
export function isKeyVisible(mask: TrainingStreamingMask, query: number, key: number): boolean {
  return visibleKeyRanges(mask, query).some(([start, end]) => key >= start && key < end);
}

/** The most keys any query of a sequence sees (sizes per-query buffers). */
export function maxVisibleKeys(mask: TrainingStreamingMask, length: number): number {
  let most = 0;
  // The count is periodic in the query for the block mask and monotone for the token mask, so the
  // last two blocks' worth of queries bound it.
  const block = mask.kind === 'block' ? (mask.blockSize ?? ORIGINAL_BLOCK_SIZE) : 1;
  const from = Math.max(0, length - 2 * block - mask.recentSize - 1);
  for (let query = from; query < length; query++) {
    const count = visibleKeyRanges(mask, query).reduce((sum, [start, end]) => sum + end - start, 0);
    most = Math.max(most, count);
  }
  return most;
}
