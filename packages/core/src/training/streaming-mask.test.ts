import { describe, expect, it } from 'vitest';
import { checkStreamingMask, isKeyVisible, maxVisibleKeys, visibleKeyRanges } from './streaming-mask.js';

describe('the training streaming mask', () => {
  it('token level: key j visible to query i iff j <= i and (j < S or j > i - R)', () => {
    const mask = { kind: 'token', sinkSize: 3, recentSize: 4 } as const;
    for (let i = 0; i < 30; i++) {
      for (let j = 0; j < 30; j++) {
        expect(isKeyVisible(mask, i, j), `${i}, ${j}`).toBe(j <= i && (j < 3 || j > i - 4));
      }
    }
    expect(visibleKeyRanges(mask, 2)).toEqual([[0, 3]]);
    expect(visibleKeyRanges(mask, 6)).toEqual([[0, 7]]);
    expect(visibleKeyRanges(mask, 20)).toEqual([
      [0, 3],
      [17, 21],
    ]);
    expect(maxVisibleKeys(mask, 100)).toBe(7);
    expect(visibleKeyRanges({ kind: 'token', sinkSize: 0, recentSize: 2 }, 9)).toEqual([[8, 10]]);
  });

  it("block level: the original's block-sparse pattern (1 sink block, 2 local blocks of 128 for S 128, R 256)", () => {
    const mask = { kind: 'block', sinkSize: 128, recentSize: 256, blockSize: 128 } as const;
    // Query 1000 is in block 7: it sees block 0 and blocks 6 and 7 up to itself.
    expect(visibleKeyRanges(mask, 1000)).toEqual([
      [0, 128],
      [768, 1001],
    ]);
    expect(isKeyVisible(mask, 1000, 767)).toBe(false);
    expect(isKeyVisible(mask, 1000, 127)).toBe(true);
    expect(visibleKeyRanges(mask, 300)).toEqual([[0, 301]]);
    // Small blocks round S and R up to whole blocks.
    const small = { kind: 'block', sinkSize: 4, recentSize: 8, blockSize: 4 } as const;
    for (let i = 0; i < 40; i++) {
      for (let j = 0; j <= i; j++) {
        const bi = Math.floor(i / 4);
        const bj = Math.floor(j / 4);
        expect(isKeyVisible(small, i, j), `${i}, ${j}`).toBe(bj < 1 || bj > bi - 2);
      }
    }
  });

  it('refuses unusable sizes', () => {
    expect(() => checkStreamingMask({ kind: 'token', sinkSize: -1, recentSize: 4 })).toThrow(/sinkSize/);
    expect(() => checkStreamingMask({ kind: 'token', sinkSize: 1, recentSize: 0 })).toThrow(
      /recentSize must be >= 1/,
    );
    expect(() => checkStreamingMask({ kind: 'block', sinkSize: 1, recentSize: 4, blockSize: 0 })).toThrow(
      /blockSize/,
    );
    expect(() => checkStreamingMask({ kind: 'diagonal' as 'token', sinkSize: 1, recentSize: 4 })).toThrow(
      /kind/,
    );
  });
});
