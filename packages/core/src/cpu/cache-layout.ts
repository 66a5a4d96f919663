// Sizes of the cpu backend's KV caches, shared by the worker (which allocates them) and the main
// thread (which reports memory without asking the worker).

/** Per-layer head counts and the limits the caches are sized by. */
export interface CacheLayout {
  readonly headDim: number;
  /** `[numLayers]` retrieval KV heads per layer. */
  readonly retrievalHeads: readonly number[];
  /** `[numLayers]` streaming KV heads per layer. */
  readonly streamingHeads: readonly number[];
  /** S + R. */
  readonly window: number;
  readonly maxTokens: number;
}

/** Smallest retrieval capacity a sequence starts with. */
const INITIAL_CAPACITY = 16;

/**
 * The retrieval capacity (tokens) after making room for `needed` tokens: unchanged when it fits,
 * else doubled (at least `needed`, at least 16), never above `maxTokens`.
 */
export function nextRetrievalCapacity(current: number, needed: number, maxTokens: number): number {
  if (needed <= current) return current;
  return Math.min(maxTokens, Math.max(needed, 2 * current, INITIAL_CAPACITY));
}

/**
 * Bytes one sequence's caches reserve: retrieval K and V `[1 + capacity, F_r, d]` f32 per layer
 * (none while the capacity is 0), plus streaming K and V `[1 + S + R, F_s, d]` f32 per layer and
 * `[S + R, F_s, d]` for the rows the last commit overwrote (so an aborted call can be rolled back).
 * Row 0 of each cache is the padding row the decoder graph ignores.
 */
export function sequenceAllocatedBytes(layout: CacheLayout, capacity: number): number {
  let elements = 0;
  const retrievalRows = capacity === 0 ? 0 : 1 + capacity;
  layout.retrievalHeads.forEach((heads, layer) => {
    elements += 2 * retrievalRows * heads * layout.headDim;
    elements += 2 * (1 + 2 * layout.window) * layout.streamingHeads[layer]! * layout.headDim;
  });
  return 4 * elements;
}

/** Bytes of live tokens of a sequence of `length` tokens: `[retrieval, streaming]`. */
export function sequenceUsedBytes(layout: CacheLayout, length: number): [number, number] {
  let retrieval = 0;
  let streaming = 0;
  const streamingTokens = Math.min(length, layout.window);
  layout.retrievalHeads.forEach((heads, layer) => {
    retrieval += 2 * length * heads * layout.headDim;
    streaming += 2 * streamingTokens * layout.streamingHeads[layer]! * layout.headDim;
  });
  return [4 * retrieval, 4 * streaming];
}
