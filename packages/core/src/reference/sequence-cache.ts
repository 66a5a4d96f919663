// KV caches of one sequence in the reference backend: per layer a growing cache for the retrieval
// KV heads and a sink+recent cache for the streaming KV heads, both token-major. Float32, or KV4
// (4-bit codes with fp16 scale and zero per (token, KV head), DESIGN §5) when the policy says int4.
import { allocateKv4Groups, copyKv4Groups, type Kv4Groups, quantizeKv4Into } from '../quant/kv4-codec.js';
import { mulberry32 } from '../random.js';

/** One layer's KV4 caches: group `token * heads + head`, same slots as the float arrays. */
export interface LayerKv4Cache {
  retrievalKeys: Kv4Groups;
  retrievalValues: Kv4Groups;
  streamingKeys: Kv4Groups;
  streamingValues: Kv4Groups;
}

/** One layer's caches. Head slots are in reordered order (retrieval heads first). */
export interface LayerCache {
  /** `[capacity, numRetrievalKvHeads, headDim]` f32, post-RoPE keys at their absolute positions (empty with KV4). */
  retrievalKeys: Float32Array;
  /** `[capacity, numRetrievalKvHeads, headDim]` f32 (empty with KV4). */
  retrievalValues: Float32Array;
  /** `[S + R, numStreamingKvHeads, headDim]` f32: first S tokens then the most recent ones (empty with KV4). */
  streamingKeys: Float32Array;
  /** `[S + R, numStreamingKvHeads, headDim]` f32 (empty with KV4). */
  streamingValues: Float32Array;
  /** The same caches in KV4 form, when the cache dtype is int4. */
  kv4?: LayerKv4Cache;
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
  /** Store KV4 codes instead of float32 values. */
  readonly kv4: boolean;
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
      const streamingHeads = shape.streamingHeads[layer]!;
      if (shape.kv4) {
        const groups = shape.window * streamingHeads;
        return {
          retrievalKeys: new Float32Array(0),
          retrievalValues: new Float32Array(0),
          streamingKeys: new Float32Array(0),
          streamingValues: new Float32Array(0),
          kv4: {
            retrievalKeys: allocateKv4Groups(0, shape.headDim),
            retrievalValues: allocateKv4Groups(0, shape.headDim),
            streamingKeys: allocateKv4Groups(groups, shape.headDim),
            streamingValues: allocateKv4Groups(groups, shape.headDim),
          },
          streamingCount: 0,
        };
      }
      const streaming = shape.window * streamingHeads * shape.headDim;
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
      const heads = this.shape.retrievalHeads[layer]!;
      if (cache.kv4 !== undefined) {
        const grow = (old: Kv4Groups): Kv4Groups => {
          const next = allocateKv4Groups(capacity * heads, this.shape.headDim);
          copyKv4Groups(old, 0, next, 0, old.scales.length);
          return next;
        };
        cache.kv4.retrievalKeys = grow(cache.kv4.retrievalKeys);
        cache.kv4.retrievalValues = grow(cache.kv4.retrievalValues);
        return;
      }
      const size = capacity * heads * this.shape.headDim;
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
    let bytes = 0;
    for (const cache of this.layers) {
      if (cache.kv4 !== undefined) {
        for (const groups of Object.values(cache.kv4)) bytes += kv4Bytes(groups, groups.scales.length);
      } else {
        bytes += 4 * (cache.retrievalKeys.length + cache.retrievalValues.length);
        bytes += 4 * (cache.streamingKeys.length + cache.streamingValues.length);
      }
    }
    return bytes;
  }

  /** Bytes of live tokens in the retrieval caches. */
  retrievalBytesUsed(): number {
    let tokenHeads = 0;
    for (const heads of this.shape.retrievalHeads) tokenHeads += 2 * this.length * heads;
    return tokenHeads * this.bytesPerTokenHead();
  }

  /** Bytes of live tokens in the streaming caches. */
  streamingBytesUsed(): number {
    let tokenHeads = 0;
    this.layers.forEach((cache, layer) => {
      tokenHeads += 2 * cache.streamingCount * this.shape.streamingHeads[layer]!;
    });
    return tokenHeads * this.bytesPerTokenHead();
  }

  /**
   * Fills the caches as if `length` tokens had been processed, with seeded uniform values in
   * [-1, 1) (quantized when KV4): retrieval caches hold all of them, streaming caches the first S
   * and last R.
   */
  fillSynthetic(length: number, seed: number): void {
    this.ensureCapacity(length);
    const random = mulberry32(seed);
    const { headDim } = this.shape;
    const fill = (array: Float32Array, count: number) => {
      for (let i = 0; i < count; i++) array[i] = random() * 2 - 1;
    };
    const fillKv4 = (groups: Kv4Groups, count: number) => {
      const values = new Float32Array(count * headDim);
      fill(values, values.length);
      quantizeKv4Into(values, 0, count, groups, 0);
    };
    this.layers.forEach((cache, layer) => {
      const retrieval = length * this.shape.retrievalHeads[layer]!;
      cache.streamingCount = Math.min(length, this.shape.window);
      const streaming = cache.streamingCount * this.shape.streamingHeads[layer]!;
      if (cache.kv4 !== undefined) {
        fillKv4(cache.kv4.retrievalKeys, retrieval);
        fillKv4(cache.kv4.retrievalValues, retrieval);
        fillKv4(cache.kv4.streamingKeys, streaming);
        fillKv4(cache.kv4.streamingValues, streaming);
        return;
      }
      fill(cache.retrievalKeys, retrieval * headDim);
      fill(cache.retrievalValues, retrieval * headDim);
      fill(cache.streamingKeys, streaming * headDim);
      fill(cache.streamingValues, streaming * headDim);
    });
    this.length = length;
  }

  private bytesPerTokenHead(): number {
    return this.shape.kv4 ? this.shape.headDim / 2 + 4 : 4 * this.shape.headDim;
  }
}

function kv4Bytes(groups: Kv4Groups, count: number): number {
  return count * (groups.groupSize / 2 + 4);
}
