// The past inputs of a batched decode pass: each sequence's cached K/V interleaved into the
// `[P, B, F, d]` layout the decoder graph reads in place (row 0 padding, then sequence b's rows
// 1..X_b at [row, b]). Copying every sequence's whole cache each step would move as many bytes as
// the attention then reads, so the buffers persist between passes: while the same sequences decode
// in the same slots, only the rows appended since the last pass are copied into the retrieval
// buffers. Streaming caches are rewritten by every commit once full (the recent window slides), so
// they are copied whole; they hold at most S + R rows.
import type { CacheLayout } from './cache-layout.js';
import type { SequenceKvCache } from './sequence-kv-cache.js';

/** What one slot of a retrieval buffer holds. */
interface SlotContent {
  readonly cache: SequenceKvCache;
  readonly rewrites: number;
  /** Rows 1..rows of the slot equal the cache's rows 1..rows. */
  readonly rows: number;
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
  private readonly streaming = new Map<string, Float32Array>();

  constructor(layout: CacheLayout) {
    this.layout = layout;
  }

  /** Bytes the batch-layout copies hold (reported as allocated KV memory). */
  get bytes(): number {
    let bytes = 0;
    for (const buffer of this.retrieval.values()) bytes += buffer.data.byteLength;
    for (const data of this.streaming.values()) bytes += data.byteLength;
    return bytes;
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
          ? Math.min(held.rows, cache.length)
          : 0;
      const source = cache.retrievalPast(layer)[values ? 'values' : 'keys'];
      for (let row = valid + 1; row <= cache.length; row++) {
        data.set(source.subarray(row * rowSize, (row + 1) * rowSize), (row * batch + b) * rowSize);
      }
      slots[b] = { cache, rewrites: cache.rewrites, rows: cache.length };
    });
    return { data: data.subarray(0, rows * batch * rowSize), rows };
  }

  /** Streaming keys or values of `layer` for `caches` in slot order (copied whole). */
  streamingPast(layer: number, values: boolean, caches: readonly SequenceKvCache[]): BatchPast {
    const rowSize = this.layout.streamingHeads[layer]! * this.layout.headDim;
    const batch = caches.length;
    const rows = 1 + Math.max(...caches.map((cache) => cache.streamingCount));
    const key = `${layer}${values ? 'v' : 'k'}`;
    const needed = rows * batch * rowSize;
    let data = this.streaming.get(key);
    if (data === undefined || data.length < needed) {
      data = new Float32Array(Math.max(needed, (1 + this.layout.window) * batch * rowSize));
      this.streaming.set(key, data);
    }
    const target = data;
    caches.forEach((cache, b) => {
      const source = cache.streamingPast(layer)[values ? 'values' : 'keys'];
      for (let row = 1; row <= cache.streamingCount; row++) {
        target.set(source.subarray(row * rowSize, (row + 1) * rowSize), (row * batch + b) * rowSize);
      }
    });
    return { data: target.subarray(0, needed), rows };
  }
}
