// BatchPasts against a from-scratch interleave of the same caches, across appends, an undo, a
// synthetic fill, a replaced sequence and a change of batch composition.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random.js';
import { BatchPasts } from './batch-pasts.js';
import type { CacheLayout } from './cache-layout.js';
import { type LayerUpdate, SequenceKvCache } from './sequence-kv-cache.js';

const layout: CacheLayout = {
  headDim: 4,
  retrievalHeads: [2, 1],
  streamingHeads: [1, 2],
  window: 6,
  maxTokens: 64,
};
const random = mulberry32(5);

function cache(): SequenceKvCache {
  return new SequenceKvCache(layout, 2, 1024);
}

let nextId = 1;
/** Appends `tokens` random tokens to `sequence`; returns the commit id. */
function append(sequence: SequenceKvCache, tokens: number): number {
  const values = (heads: number) =>
    Float32Array.from({ length: tokens * heads * layout.headDim }, () => random());
  const updates: LayerUpdate[] = layout.retrievalHeads.map((heads, layer) => ({
    retrievalKeys: values(heads),
    retrievalValues: values(heads),
    streamingKeys: values(layout.streamingHeads[layer]!),
    streamingValues: values(layout.streamingHeads[layer]!),
  }));
  sequence.ensureCapacity(sequence.length + tokens);
  const id = nextId++;
  sequence.commit(id, tokens, 1024, updates);
  return id;
}

/** The rows the graph reads: for each sequence, rows 1..count of its past at [row, b]. */
function expectInterleaved(
  past: { data: Float32Array; rows: number },
  caches: readonly SequenceKvCache[],
  view: (cache: SequenceKvCache) => Float32Array,
  count: (cache: SequenceKvCache) => number,
  rowSize: number,
): void {
  const batch = caches.length;
  expect(past.rows).toBe(1 + Math.max(...caches.map(count)));
  expect(past.data.length).toBe(past.rows * batch * rowSize);
  caches.forEach((sequence, b) => {
    const source = view(sequence);
    for (let row = 1; row <= count(sequence); row++) {
      const got = past.data.subarray((row * batch + b) * rowSize, (row * batch + b + 1) * rowSize);
      expect(Array.from(got), `sequence ${b} row ${row}`).toEqual(
        Array.from(source.subarray(row * rowSize, (row + 1) * rowSize)),
      );
    }
  });
}

function check(pasts: BatchPasts, caches: readonly SequenceKvCache[]): void {
  layout.retrievalHeads.forEach((heads, layer) => {
    const rowSize = heads * layout.headDim;
    for (const values of [false, true]) {
      const view = (c: SequenceKvCache) => c.retrievalPast(layer)[values ? 'values' : 'keys'];
      expectInterleaved(pasts.retrievalPast(layer, values, caches), caches, view, (c) => c.length, rowSize);
    }
    const streamingSize = layout.streamingHeads[layer]! * layout.headDim;
    for (const values of [false, true]) {
      const view = (c: SequenceKvCache) => c.streamingPast(layer)[values ? 'values' : 'keys'];
      const past = pasts.streamingPast(layer, values, caches);
      expectInterleaved(past, caches, view, (c) => c.streamingCount, streamingSize);
    }
  });
}

describe('BatchPasts', () => {
  it('keeps the batch layout equal to the caches while they change', () => {
    const pasts = new BatchPasts(layout);
    const [a, b, c] = [cache(), cache(), cache()];
    append(a, 5);
    append(b, 1);
    check(pasts, [a, b]);
    for (let step = 0; step < 12; step++) {
      append(a, 1);
      append(b, 1);
      check(pasts, [a, b]); // copies only the new rows
    }
    const id = append(a, 1);
    check(pasts, [a, b]);
    a.undo(id);
    append(a, 1); // same length as before the undo, other values
    check(pasts, [a, b]);
    b.fillSynthetic(20, 3);
    check(pasts, [a, b]);
    append(c, 7);
    check(pasts, [c, b]); // another sequence in slot 0
    check(pasts, [b, c, a]); // a new batch size
    append(a, 40); // beyond the buffers' rows
    check(pasts, [b, c, a]);
    pasts.release(c); // its sequence was reset: the slot starts over
    check(pasts, [b, c, a]);
  });
});
