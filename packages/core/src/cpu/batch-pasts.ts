// The past inputs of a batched decode pass: each sequence's cached K/V interleaved into the
// `[P, B, F, d]` layout the decoder graph reads in place (row 0 padding, then sequence b's rows
// 1..X_b at [row, b]). Copying every sequence's whole cache each step would move as many bytes as
// the attention then reads, so the buffers persist between passes: while the same sequences decode
// in the same slots, only the rows appended since the last pass are copied into the retrieval
// buffers, and only the streaming rows written since then (a decode step writes one ring row).
import type { CacheLayout } from './cache-layout.js';
import { type SequenceKvCache, streamingRow } from './sequence-kv-cache.js';

/** What one slot of a buffer holds. */
interface SlotContent {
  readonly cache: SequenceKvCache;
  readonly rewrites: number;
  /**
   * The cache's length when the slot was copied: retrieval rows 1..length, and the streaming rows
   * as they were then (later positions overwrite their ring rows).
   */
  readonly length: number;
}

/** One layer's retrieval keys or values in the batch layout. */
interface RetrievalBuffer {
  data: Float32Array;
  /** Rows (including the padding row) the buffer has room for. */
  rowCapacity: number;
  batch: number;
  slots: (SlotContent | undefined)[];
}

/** A past input: data `[rows, batch, heads, d]` f32. */
export interface BatchPast {
  readonly data: Float32Array;
  readonly rows: number;
}

/** Persistent batch-layout copies of the caches of the sequences being decoded together. */
export class BatchPasts {
  private readonly layout: CacheLayout;
  private readonly retrieval = new Map<string, RetrievalBuffer>();
  private readonly streaming = new Map<
    string,
    { data: Float32Array; batch: number; slots: (SlotContent | undefined)[] }
  >();

  constructor(layout: CacheLayout) {
    this.layout = layout;
  }

  /** Bytes the batch-layout copies hold (reported as allocated KV memory). */
  get bytes(): number {
    let bytes = 0;
    for (const buffer of this.retrieval.values()) bytes += buffer.data.byteLength;
    for (const buffer of this.streaming.values()) bytes += buffer.data.byteLength;
    return bytes;
  }

  /** Forgets `cache` (its sequence was reset), so the slots that held it keep no reference to it. */
  release(cache: SequenceKvCache): void {
    for (const buffer of [...this.retrieval.values(), ...this.streaming.values()]) {
      buffer.slots.forEach((slot, b) => {
        if (slot?.cache === cache) buffer.slots[b] = undefined;
      });
    }
  }

  /** Retrieval keys (`values` false) or values of `layer` for `caches` in slot order. */
  retrievalPast(layer: number, values: boolean, caches: readonly SequenceKvCache[]): BatchPast {
    const rowSize = this.layout.retrievalHeads[layer]! * this.layout.headDim;
    const batch = caches.length;
    const rows = 1 + Math.max(...caches.map((cache) => cache.length));
    const key = `${layer}${values ? 'v' : 'k'}`;
    let buffer = this.retrieval.get(key);
    if (buffer === undefined || buffer.batch !== batch || buffer.rowCapacity < rows) {
      // A new layout (or too few rows): start over, keeping the allocation when it is big enough.
      const rowCapacity = Math.max(rows, 2 * (buffer?.rowCapacity ?? 0));
      const size = rowCapacity * batch * rowSize;
      const data = buffer !== undefined && buffer.data.length >= size ? buffer.data : new Float32Array(size);
      buffer = { data, rowCapacity: Math.floor(data.length / (batch * rowSize)), batch, slots: [] };
      this.retrieval.set(key, buffer);
    }
    const { data, slots } = buffer;
    caches.forEach((cache, b) => {
      const held = slots[b];
      const valid =
        held !== undefined && held.cache === cache && held.rewrites === cache.rewrites
          ? Math.min(held.length, cache.length)
          : 0;
      const source = cache.retrievalPast(layer)[values ? 'values' : 'keys'];
      for (let row = valid + 1; row <= cache.length; row++) {
        data.set(source.subarray(row * rowSize, (row + 1) * rowSize), (row * batch + b) * rowSize);
      }
      slots[b] = { cache, rewrites: cache.rewrites, length: cache.length };
    });
    return { data: data.subarray(0, rows * batch * rowSize), rows };
  }

  /** Streaming keys or values of `layer` for `caches` in slot order. */
  streamingPast(layer: number, values: boolean, caches: readonly SequenceKvCache[]): BatchPast {
    const rowSize = this.layout.streamingHeads[layer]! * this.layout.headDim;
    const batch = caches.length;
    const rows = 1 + Math.max(...caches.map((cache) => cache.streamingCount));
    const key = `${layer}${values ? 'v' : 'k'}`;
    let buffer = this.streaming.get(key);
    if (buffer === undefined || buffer.batch !== batch) {
      const size = (1 + this.layout.window) * batch * rowSize;
      const data = buffer !== undefined && buffer.data.length >= size ? buffer.data : new Float32Array(size);
      buffer = { data, batch, slots: [] };
      this.streaming.set(key, buffer);
    }
    const { data, slots } = buffer;
    caches.forEach((cache, b) => {
      const source = cache.streamingPast(layer)[values ? 'values' : 'keys'];
      const copyRow = (row: number) =>
        data.set(source.subarray(row * rowSize, (row + 1) * rowSize), (row * batch + b) * rowSize);
      const held = slots[b];
      const since =
        held !== undefined && held.cache === cache && held.rewrites === cache.rewrites ? held.length : -1;
      if (since < 0 || cache.length - since >= cache.recentSize) {
        for (let row = 1; row <= cache.streamingCount; row++) copyRow(row);
      } else {
        // Only the rows of the positions written since the last copy changed.
        for (let position = since; position < cache.length; position++) {
          copyRow(streamingRow(position, cache.sinkSize, cache.recentSize));
        }
      }
      slots[b] = { cache, rewrites: cache.rewrites, length: cache.length };
    });
    return { data: data.subarray(0, rows * batch * rowSize), rows };
  }
}
