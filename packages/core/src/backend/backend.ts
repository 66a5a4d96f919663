// The backend contract (DESIGN §4): model-level, not op-level. A backend loads a model under a
// KvCachePolicy and runs whole forward passes, so native backends never return to JS per layer.
import type { ModelConfig, ModelWeights } from '../model/model-types.js';
import type { KvCacheDtype, KvCachePolicy } from '../policy/kv-cache-policy.js';

/** What a backend can do; used to pick one and to skip conformance cases. */
export interface BackendCapabilities {
  /** Compute dtypes, e.g. ['fp32'] for reference/cpu, ['bf16'] for cuda. */
  readonly computeDtypes: readonly string[];
  readonly kvCacheDtypes: readonly KvCacheDtype[];
  /** Supports forward+backward for gate training. */
  readonly training: boolean;
  /** Device memory in bytes, when the backend runs on a device with its own memory. */
  readonly deviceMemoryBytes?: number;
}

/** A model as handed to a backend: architecture plus float32 weights (HF layout, original head order). */
export interface ModelSource {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
}

export interface LoadOptions {
  /** Most tokens one sequence may hold (prompt + generated); bounds preallocated caches. */
  readonly maxTokens: number;
  /** Sequences the executor can hold at once (default 1). */
  readonly maxSequences?: number;
}

/** Logits returned by a forward pass: `[numRows, vocabSize]` float32, row-major. */
export interface ForwardResult {
  readonly logits: Float32Array;
  /** Rows in `logits`: 1 (last position) or the number of tokens passed (all positions). */
  readonly numRows: number;
  readonly vocabSize: number;
}

export interface ForwardOptions {
  /** Return logits of every position of the call, not just the last. Default false. */
  readonly allLogits?: boolean;
  readonly signal?: AbortSignal;
}

/** Bytes of KV cache, split by head class. */
export interface MemoryReport {
  /** Bytes reserved for KV caches (capacity). */
  readonly kvBytesAllocated: number;
  /** Bytes holding live tokens now. */
  readonly kvBytesUsed: number;
  readonly retrievalKvBytesUsed: number;
  readonly streamingKvBytesUsed: number;
  /** Bytes of weights held by the executor. */
  readonly weightBytes: number;
}

/** Owns weights and KV caches of one loaded model. */
export interface Executor {
  readonly backendName: string;
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  /**
   * Appends `tokens` to `sequence` at the next positions and returns logits, following the
   * semantics of DESIGN §3: a call on an empty sequence is the first chunk (every head attends
   * fully); later calls are later chunks or, with one token, decode steps.
   */
  forward(sequence: number, tokens: readonly number[], options?: ForwardOptions): Promise<ForwardResult>;
  /** Tokens held by `sequence`. */
  length(sequence: number): number;
  /** Forgets a sequence's cache. */
  reset(sequence: number): void;
  memory(): MemoryReport;
  /**
   * Benchmarks only: makes `sequence` hold `length` tokens (≤ maxTokens) whose cached keys and values
   * are seeded random numbers, as if a prompt of that length had been processed, without running it,
   * so decode latency at long contexts can be measured cheaply. Backends without it leave it undefined
   * and harnesses prefill for real.
   */
  fillSyntheticCache?(sequence: number, length: number, seed?: number): Promise<void>;
  dispose(): Promise<void>;
}

/** A named way to run models. */
export interface Backend {
  /** Literal version of this contract, so incompatible backends are detected. */
  readonly specificationVersion: 'v1';
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** Resolves when the backend can run here; rejects with the reason otherwise. */
  isAvailable(): Promise<{ available: true } | { available: false; reason: string }>;
  load(model: ModelSource, policy: KvCachePolicy, options: LoadOptions): Promise<Executor>;
}
