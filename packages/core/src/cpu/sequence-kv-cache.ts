// KV caches of one sequence inside the cpu worker, in the token-major layout the ONNX graph takes:
// retrieval caches grow (the graph gets a view of the padding row + the first X tokens); streaming
// caches hold the first S tokens in rows 1..S and the last R in a ring at rows S+1..S+R, so a
// decode step writes one row instead of re-compacting the window (keys are stored after RoPE, so
// attention does not depend on the order of the rows). A commit keeps the rows it overwrote so the
// call can be rolled back. Row 0 of every buffer is a zero padding row the graph ignores: it keeps
// past inputs non-empty.
import { mulberry32 } from '../random.js';
import { type CacheLayout, nextRetrievalCapacity } from './cache-layout.js';

/** One layer's caches. Head slots are in reordered order (retrieval heads first). */
interface LayerKv {
  /** `[1 + capacity, F_r, d]` f32: padding, then post-RoPE keys at their absolute positions. */
  retrievalKeys: Float32Array;
  /** `[1 + capacity, F_r, d]` f32. */
  retrievalValues: Float32Array;
  /**
   * `[1 + S + R, F_s, d]` f32: padding, then the streaming keys: position p < S at row 1 + p, a
   * later position in the ring row {@link streamingRow} gives.
   */
  streamingKeys: Float32Array;
  streamingValues: Float32Array;
  /** `[S + R, F_s, d]` f32: the rows the last commit overwrote, in the order of `undoRows`. */
  overwrittenKeys: Float32Array;
  overwrittenValues: Float32Array;
}

/** One layer's new keys and values from a forward call: `[T, F, d]` f32 per group (absent when F = 0). */
export interface LayerUpdate {
  readonly retrievalKeys?: Float32Array;
  readonly retrievalValues?: Float32Array;
  readonly streamingKeys?: Float32Array;
  readonly streamingValues?: Float32Array;
}

/** What a commit changed, so {@link SequenceKvCache.undo} can restore it. */
interface UndoRecord {
  readonly id: number;
  readonly length: number;
  readonly ropeLength: number;
  readonly streamingCount: number;
  /** Streaming rows the commit overwrote (their old contents are in `overwritten*`). */
  readonly rows: readonly number[];
}

/**
 * The streaming cache row of absolute position `position`: 1 + position for the S sink tokens,
 * then a ring of R rows for the rest. `recentSize` must be positive when position >= sinkSize.
 */
export function streamingRow(position: number, sinkSize: number, recentSize: number): number {
  return position < sinkSize ? 1 + position : 1 + sinkSize + ((position - sinkSize) % recentSize);
}

/** The caches of one sequence. */
export class SequenceKvCache {
  /** Committed tokens. */
  length = 0;
  /** Tokens the retrieval caches hold room for. */
  capacity = 0;
  /** Tokens in the streaming caches (min(length, S + R)). */
  streamingCount = 0;
  /** Dynamic-NTK RoPE only: the sequence length its frequencies were last computed for. */
  ropeLength: number;
  /**
   * Counts changes other than appending (an undo, a synthetic fill): while it stays the same, the
   * retrieval rows a reader copied earlier are still the cache's rows (see BatchPasts).
   */
  rewrites = 0;
  private readonly layout: CacheLayout;
  /** S. */
  readonly sinkSize: number;
  /** R = window − S. */
  readonly recentSize: number;
  private readonly layers: LayerKv[];
  private undoRecord: UndoRecord | undefined;

  constructor(layout: CacheLayout, sinkSize: number, initialRopeLength: number) {
    this.layout = layout;
    this.sinkSize = sinkSize;
    this.recentSize = layout.window - sinkSize;
    this.ropeLength = initialRopeLength;
    this.layers = layout.streamingHeads.map((heads) => {
      const size = (1 + layout.window) * heads * layout.headDim;
      const overwritten = layout.window * heads * layout.headDim;
      return {
        retrievalKeys: new Float32Array(0),
        retrievalValues: new Float32Array(0),
        streamingKeys: new Float32Array(size),
        streamingValues: new Float32Array(size),
        overwrittenKeys: new Float32Array(overwritten),
        overwrittenValues: new Float32Array(overwritten),
      };
    });
  }

  /** Grows the retrieval caches (keeping their contents) to hold at least `tokens` tokens. */
  ensureCapacity(tokens: number): void {
    const capacity = nextRetrievalCapacity(this.capacity, tokens, this.layout.maxTokens);
    if (capacity === this.capacity) return;
    this.layers.forEach((layer, index) => {
      const size = (1 + capacity) * this.layout.retrievalHeads[index]! * this.layout.headDim;
      const keys = new Float32Array(size);
      keys.set(layer.retrievalKeys);
      const values = new Float32Array(size);
      values.set(layer.retrievalValues);
      layer.retrievalKeys = keys;
      layer.retrievalValues = values;
    });
    this.capacity = capacity;
  }

  /** Retrieval keys/values of `layer` so far: views `[1 + length, F_r, d]` f32 (row 0 padding). */
  retrievalPast(layer: number): { keys: Float32Array; values: Float32Array } {
    const kv = this.layers[layer]!;
    const size = (1 + this.length) * this.layout.retrievalHeads[layer]! * this.layout.headDim;
    return { keys: kv.retrievalKeys.subarray(0, size), values: kv.retrievalValues.subarray(0, size) };
  }

  /** Streaming keys/values of `layer`: views `[1 + streamingCount, F_s, d]` f32 (row 0 padding). */
  streamingPast(layer: number): { keys: Float32Array; values: Float32Array } {
    const kv = this.layers[layer]!;
    const size = (1 + this.streamingCount) * this.layout.streamingHeads[layer]! * this.layout.headDim;
    return { keys: kv.streamingKeys.subarray(0, size), values: kv.streamingValues.subarray(0, size) };
  }

  /**
   * Makes call `id`'s `tokens` tokens part of the sequence: appends each layer's retrieval K/V at
   * the end, and writes the streaming K/V of the tokens the window keeps (the first S positions and
   * the last R) into their rows, keeping what they overwrite for {@link undo}. Call
   * {@link ensureCapacity} first.
   */
  commit(id: number, tokens: number, ropeLength: number, updates: readonly LayerUpdate[]): void {
    const { headDim, window } = this.layout;
    const start = this.length;
    const oldCount = this.streamingCount;
    const end = start + tokens;
    // Positions whose streaming row survives the call: the sink ones, and the last R of the rest
    // (an earlier one in the same call would be overwritten by a later one in its ring row).
    const kept: number[] = [];
    const firstRecent = Math.max(start, this.sinkSize, end - this.recentSize);
    for (let position = start; position < Math.min(end, this.sinkSize); position++) kept.push(position);
    for (let position = firstRecent; position < end; position++) kept.push(position);
    const rows = kept.map((position) => streamingRow(position, this.sinkSize, this.recentSize));
    this.layers.forEach((kv, layer) => {
      const update = updates[layer]!;
      const retrievalSize = this.layout.retrievalHeads[layer]! * headDim;
      if (retrievalSize > 0) {
        kv.retrievalKeys.set(
          update.retrievalKeys!.subarray(0, tokens * retrievalSize),
          (1 + start) * retrievalSize,
        );
        kv.retrievalValues.set(
          update.retrievalValues!.subarray(0, tokens * retrievalSize),
          (1 + start) * retrievalSize,
        );
      }
      const rowSize = this.layout.streamingHeads[layer]! * headDim;
      if (rowSize === 0) return;
      kept.forEach((position, k) => {
        const row = rows[k]! * rowSize;
        const from = (position - start) * rowSize;
        kv.overwrittenKeys.set(kv.streamingKeys.subarray(row, row + rowSize), k * rowSize);
        kv.overwrittenValues.set(kv.streamingValues.subarray(row, row + rowSize), k * rowSize);
        kv.streamingKeys.set(update.streamingKeys!.subarray(from, from + rowSize), row);
        kv.streamingValues.set(update.streamingValues!.subarray(from, from + rowSize), row);
      });
    });
    this.undoRecord = { id, length: start, ropeLength: this.ropeLength, streamingCount: oldCount, rows };
    this.length = end;
    this.streamingCount = Math.min(end, window);
    this.ropeLength = ropeLength;
  }

  /** Rolls back commit `id` if it is the sequence's last change; returns whether it did. */
  undo(id: number): boolean {
    const record = this.undoRecord;
    if (record === undefined || record.id !== id) return false;
    this.layers.forEach((kv, layer) => {
      const rowSize = this.layout.streamingHeads[layer]! * this.layout.headDim;
      if (rowSize === 0) return;
      record.rows.forEach((row, k) => {
        kv.streamingKeys.set(kv.overwrittenKeys.subarray(k * rowSize, (k + 1) * rowSize), row * rowSize);
        kv.streamingValues.set(kv.overwrittenValues.subarray(k * rowSize, (k + 1) * rowSize), row * rowSize);
      });
    });
    this.length = record.length;
    this.rewrites += 1;
    this.ropeLength = record.ropeLength;
    this.streamingCount = record.streamingCount;
    this.undoRecord = undefined;
    return true;
  }

  /**
   * Benchmarks: holds `length` tokens of seeded uniform [-1, 1) keys and values, as if that many had
   * been processed (retrieval caches all of them, streaming caches min(length, S + R)).
   */
  fillSynthetic(length: number, seed: number): void {
    this.ensureCapacity(length);
    const random = mulberry32(seed);
    // Row 0 is padding: fill the `count` values after its `row` values.
    const fill = (array: Float32Array, row: number, count: number) => {
      for (let i = row; i < row + count; i++) array[i] = random() * 2 - 1;
    };
    this.streamingCount = Math.min(length, this.layout.window);
    this.layers.forEach((kv, layer) => {
      const retrievalRow = this.layout.retrievalHeads[layer]! * this.layout.headDim;
      fill(kv.retrievalKeys, retrievalRow, length * retrievalRow);
      fill(kv.retrievalValues, retrievalRow, length * retrievalRow);
      const streamingRow = this.layout.streamingHeads[layer]! * this.layout.headDim;
      fill(kv.streamingKeys, streamingRow, this.streamingCount * streamingRow);
      fill(kv.streamingValues, streamingRow, this.streamingCount * streamingRow);
    });
    this.length = length;
    this.rewrites += 1;
    this.undoRecord = undefined;
  }

  /** Forgets the last commit's undo information (a new change on the sequence supersedes it). */
  forgetUndo(): void {
    this.undoRecord = undefined;
  }
}
