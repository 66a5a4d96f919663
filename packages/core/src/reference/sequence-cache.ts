// KV caches of one sequence in the reference backend: per layer a growing cache for the retrieval
// KV heads and a sink+recent cache for the streaming KV heads, both token-major, float32.
import { mulberry32 } from '../random.js';

/** One layer's caches. Head slots are in reordered order (retrieval heads first). */
export interface LayerCache {
  /** `[capacity, numRetrievalKvHeads, headDim]` f32, post-RoPE keys at their absolute positions. */
  retrievalKeys: Float32Array;
  /** `[capacity, numRetrievalKvHeads, headDim]` f32. */
  retrievalValues: Float32Array;
  /** `[S + R, numStreamingKvHeads, headDim]` f32: first S tokens then the most recent ones. */
  streamingKeys: Float32Array;
  /** `[S + R, numStreamingKvHeads, headDim]` f32. */
  streamingValues: Float32Array;
  /** Tokens held in the streaming cache (≤ S + R). */
  streamingCount: number;
}

/** Per-layer head counts the caches are sized by. */
export interface CacheShape {
  readonly headDim: number;
  /** `[numLayers]` retrieval KV heads per layer. */
  readonly retrievalHeads: readonly number[];
  /** `[numLayers]` streaming KV heads per layer. */
  readonly streamingHeads: readonly number[];
  /** S + R. */
  readonly window: number;
  readonly maxTokens: number;
  /** Initial dynamic-NTK RoPE length (the model's `maxPositionEmbeddings`). */
  readonly initialRopeLength: number;
}

/** Smallest capacity a retrieval cache starts with. */
const INITIAL_CAPACITY = 16;

/** The caches of one sequence. Retrieval caches grow by doubling up to `maxTokens`. */
export class SequenceCache {
  /** Committed tokens. */
  length = 0;
  /** Tokens the retrieval caches can hold now. */
  capacity = 0;
  /** Dynamic-NTK RoPE only: the sequence length its frequencies were last computed for. */
  ropeLength: number;
  readonly layers: LayerCache[];
  private readonly shape: CacheShape;

  constructor(shape: CacheShape) {
    this.shape = shape;
    this.ropeLength = shape.initialRopeLength;
    this.layers = shape.retrievalHeads.map((_, layer) => {
      const streaming = shape.window * shape.streamingHeads[layer]! * shape.headDim;
      return {
        retrievalKeys: new Float32Array(0),
        retrievalValues: new Float32Array(0),
        streamingKeys: new Float32Array(streaming),
        streamingValues: new Float32Array(streaming),
        streamingCount: 0,
      };
    });
  }

  /** Grows the retrieval caches (keeping their contents) so they hold at least `tokens` tokens. */
  ensureCapacity(tokens: number): void {
    if (tokens <= this.capacity) return;
    const capacity = Math.min(this.shape.maxTokens, Math.max(tokens, 2 * this.capacity, INITIAL_CAPACITY));
    this.layers.forEach((cache, layer) => {
      const size = capacity * this.shape.retrievalHeads[layer]! * this.shape.headDim;
      const keys = new Float32Array(size);
      keys.set(cache.retrievalKeys);
      const values = new Float32Array(size);
      values.set(cache.retrievalValues);
      cache.retrievalKeys = keys;
      cache.retrievalValues = values;
    });
    this.capacity = capacity;
  }

  /** Bytes reserved by this sequence's caches. */
  allocatedBytes(): number {
    let elements = 0;
    this.layers.forEach((cache) => {
      elements += cache.retrievalKeys.length + cache.retrievalValues.length;
      elements += cache.streamingKeys.length + cache.streamingValues.length;
    });
    return 4 * elements;
  }

  /** Bytes of live tokens in the retrieval caches. */
  retrievalBytesUsed(): number {
    let elements = 0;
    for (const heads of this.shape.retrievalHeads) elements += 2 * this.length * heads * this.shape.headDim;
    return 4 * elements;
  }

  /** Bytes of live tokens in the streaming caches. */
  streamingBytesUsed(): number {
    let elements = 0;
    this.layers.forEach((cache, layer) => {
      elements += 2 * cache.streamingCount * this.shape.streamingHeads[layer]! * this.shape.headDim;
    });
    return 4 * elements;
  }

  /**
   * Fills the caches as if `length` tokens had been processed, with seeded uniform values in
   * [-1, 1): retrieval caches hold all of them, streaming caches the first S and last R.
   */
  fillSynthetic(length: number, seed: number): void {
    this.ensureCapacity(length);
    const random = mulberry32(seed);
    const fill = (array: Float32Array, count: number) => {
      for (let i = 0; i < count; i++) array[i] = random() * 2 - 1;
    };
    this.layers.forEach((cache, layer) => {
      const retrieval = length * this.shape.retrievalHeads[layer]! * this.shape.headDim;
      fill(cache.retrievalKeys, retrieval);
      fill(cache.retrievalValues, retrieval);
      cache.streamingCount = Math.min(length, this.shape.window);
      const streaming = cache.streamingCount * this.shape.streamingHeads[layer]! * this.shape.headDim;
      fill(cache.streamingKeys, streaming);
      fill(cache.streamingValues, streaming);
    });
    this.length = length;
  }
}
