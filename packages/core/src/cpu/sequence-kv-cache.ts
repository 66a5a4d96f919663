// KV caches of one sequence inside the cpu worker, in the token-major layout the ONNX graph takes:
// retrieval caches grow (the graph gets a view of the padding row + the first X tokens), streaming
// caches hold first S + last R tokens and are double-buffered so a committed call can be rolled back.
// Row 0 of every buffer is a zero padding row the graph ignores: it keeps past inputs non-empty.
import { mulberry32 } from '../random.js';
import { type CacheLayout, nextRetrievalCapacity } from './cache-layout.js';

/** One layer's caches. Head slots are in reordered order (retrieval heads first). */
interface LayerKv {
  /** `[1 + capacity, F_r, d]` f32: padding, then post-RoPE keys at their absolute positions. */
  retrievalKeys: Float32Array;
  /** `[1 + capacity, F_r, d]` f32. */
  retrievalValues: Float32Array;
  /** `[1 + S + R, F_s, d]` f32: padding, then the live streaming keys (first S, then the most recent). */
  streamingKeys: Float32Array;
  streamingValues: Float32Array;
  /** `[1 + S + R, F_s, d]` f32: where the next compression writes; the previous cache after a commit. */
  spareKeys: Float32Array;
  spareValues: Float32Array;
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
  private readonly sinkSize: number;
  private readonly layers: LayerKv[];
  private undoRecord: UndoRecord | undefined;

  constructor(layout: CacheLayout, sinkSize: number, initialRopeLength: number) {
    this.layout = layout;
    this.sinkSize = sinkSize;
    this.ropeLength = initialRopeLength;
    this.layers = layout.streamingHeads.map((heads) => {
      const size = (1 + layout.window) * heads * layout.headDim;
      return {
        retrievalKeys: new Float32Array(0),
        retrievalValues: new Float32Array(0),
        streamingKeys: new Float32Array(size),
        streamingValues: new Float32Array(size),
        spareKeys: new Float32Array(size),
        spareValues: new Float32Array(size),
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
   * the end and compresses `[streaming cache ; new streaming K/V]` to first S + last R tokens.
   * Call {@link ensureCapacity} first.
   */
  commit(id: number, tokens: number, ropeLength: number, updates: readonly LayerUpdate[]): void {
    const { headDim, window } = this.layout;
    const start = this.length;
    const oldCount = this.streamingCount;
    const total = oldCount + tokens;
    const count = Math.min(total, window);
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
      const tokenSize = this.layout.streamingHeads[layer]! * headDim;
      if (tokenSize === 0) return;
      const newKeys = update.streamingKeys!;
      const newValues = update.streamingValues!;
      for (let slot = 0; slot < count; slot++) {
        // Slot → index in the concatenation: identity while it fits, else first S then last R.
        const index = total <= window || slot < this.sinkSize ? slot : total - window + slot;
        const [keys, values, from] =
          index < oldCount
            ? [kv.streamingKeys, kv.streamingValues, (1 + index) * tokenSize]
            : [newKeys, newValues, (index - oldCount) * tokenSize];
        kv.spareKeys.set(keys.subarray(from, from + tokenSize), (1 + slot) * tokenSize);
        kv.spareValues.set(values.subarray(from, from + tokenSize), (1 + slot) * tokenSize);
      }
      swapStreaming(kv);
    });
    this.undoRecord = { id, length: start, ropeLength: this.ropeLength, streamingCount: oldCount };
    this.length = start + tokens;
    this.streamingCount = count;
    this.ropeLength = ropeLength;
  }

  /** Rolls back commit `id` if it is the sequence's last change; returns whether it did. */
  undo(id: number): boolean {
    const record = this.undoRecord;
    if (record === undefined || record.id !== id) return false;
    this.layers.forEach(swapStreaming);
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

function swapStreaming(kv: LayerKv): void {
  [kv.streamingKeys, kv.spareKeys] = [kv.spareKeys, kv.streamingKeys];
  [kv.streamingValues, kv.spareValues] = [kv.spareValues, kv.streamingValues];
}
