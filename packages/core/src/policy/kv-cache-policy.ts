// KvCachePolicy: which KV heads of each layer keep a full cache (retrieval heads) and which keep
// only attention sinks + recent tokens (streaming heads). Full attention and StreamingLLM are
// policies too, so every backend runs one code path.

/** Element type of the KV cache. `int4`: 4-bit codes with an fp16 scale and zero per (token, KV head). */
export type KvCacheDtype = 'fp32' | 'bf16' | 'fp16' | 'int4';

/** One layer's split of KV heads, in original head indices, each list ascending. */
export interface LayerHeadSplit {
  readonly retrievalKvHeads: readonly number[];
  readonly streamingKvHeads: readonly number[];
}

/** The KV-cache policy of a model. See DESIGN §2–3. */
export interface KvCachePolicy {
  /** `full`: every head retrieval; `streaming`: none; `duo`: from a mask. */
  readonly kind: 'full' | 'streaming' | 'duo';
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly layers: readonly LayerHeadSplit[];
  /** Sink tokens a streaming head keeps (S). */
  readonly sinkSize: number;
  /** Recent tokens a streaming head keeps (R). */
  readonly recentSize: number;
  readonly cacheDtype: KvCacheDtype;
}
