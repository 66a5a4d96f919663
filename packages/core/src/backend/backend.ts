// The backend contract (DESIGN §4): model-level, not op-level. A backend loads a model under a
// KvCachePolicy and runs whole forward passes, so native backends never return to JS per layer.
import type { ResolvedSamplingOptions } from '../engine/sampling.js';
import type { ModelConfig, ModelWeights } from '../model/model-types.js';
import type { KvCacheDtype, KvCachePolicy } from '../policy/kv-cache-policy.js';
import type { W8A8Weights } from '../quant/w8a8-weights.js';
import type { GateTrainer, GateTrainerOptions } from '../training/gate-trainer.js';

/** What a backend can do; used to pick one and to skip conformance cases. */
export interface BackendCapabilities {
  /** Compute dtypes, e.g. ['fp32'] for reference/cpu, ['bf16'] for cuda. */
  readonly computeDtypes: readonly string[];
  readonly kvCacheDtypes: readonly KvCacheDtype[];
  /** Weight formats it runs; absent means `['float']`. A model with `w8a8` needs `'w8a8'`. */
  readonly weightFormats?: readonly WeightFormat[];
  /** Supports forward+backward for gate training. */
  readonly training: boolean;
  /** Device memory in bytes, when the backend runs on a device with its own memory. */
  readonly deviceMemoryBytes?: number;
}

/**
 * How a model's linear layers run. `float`: float weights, float activations. `w8a8`: int8 weights
 * (per output channel) times int8 activations (per token, dynamic), see {@link ModelSource.w8a8}.
 */
export type WeightFormat = 'float' | 'w8a8';

/** A model as handed to a backend: architecture plus float32 weights (HF layout, original head order). */
export interface ModelSource {
  readonly config: ModelConfig;
  /**
   * Float32 weights. With `w8a8`, the norms are the smoothed ones and each linear field holds its
   * int8 layer dequantized (codes · scale), so float-only consumers see the same matrices.
   */
  readonly weights: ModelWeights;
  /** Present for a W8A8 model (docs/decisions/0007): its linears as int8; backends without `w8a8` refuse it. */
  readonly w8a8?: W8A8Weights;
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

/**
 * How {@link Executor.forwardSample} picks the token after the last row: the engine's resolved
 * sampling options plus the host's random draw, so the generator stays on the host and a seeded run
 * draws the same stream whichever backend samples.
 */
export interface DeviceSampleRequest extends ResolvedSamplingOptions {
  /**
   * The host generator's draw in [0, 1) for this token (`Rng.nextFloat()`), used exactly where
   * `sampleToken` uses its own draw. Ignored when greedy (the engine then draws nothing).
   */
  readonly uniform: number;
  /**
   * Ids the repetition penalty applies to (prompt + generated so far; repeats count once, order
   * does not matter). Needed only when `repetitionPenalty` is not 1; every id must be in
   * `[0, vocabSize)`. Read during the call only (the engine passes its live set).
   */
  readonly previousTokens?: Iterable<number>;
}

/** Options of {@link Executor.forwardSample}. */
export interface ForwardSampleOptions {
  readonly signal?: AbortSignal;
}

/** One sequence's decode step in a {@link Executor.forwardBatch} call. */
export interface DecodeStep {
  readonly sequence: number;
  /** The one token appended to the sequence. */
  readonly token: number;
  /**
   * Aborting this step alone: the batch still runs for the others; this sequence does not advance
   * and its row of logits is not valid (see {@link DecodeBatchResult.aborted}).
   */
  readonly signal?: AbortSignal;
}

/** Logits of a {@link Executor.forwardBatch} call: row i is step i's (the next-token logits). */
export interface DecodeBatchResult extends ForwardResult {
  /** `aborted[i]`: step i's signal aborted; its sequence did not advance and row i is not valid. */
  readonly aborted: readonly boolean[];
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
  /**
   * Optional: the same forward pass as {@link Executor.forward} (same DESIGN §3 semantics, same
   * argument checks and errors, the sequence advances by `tokens.length`), but instead of
   * returning logits it selects the next token from the last row where the logits are, as
   * `sampleToken(lastRow, request, rng, request.previousTokens)` would with `rng.nextFloat()`
   * returning `request.uniform`, and resolves to that id. Backends that keep logits on a device
   * implement it to avoid copying a `[vocabSize]` f32 row back per token; results may differ from
   * `sampleToken` only where the backend documents float rounding (e.g. a draw within rounding of
   * a CDF boundary). Invalid options reject with a `SamplingError` before anything runs; logits
   * that cannot be sampled from (NaN, all -Infinity) reject with a `SamplingError` after the
   * forward, which has then advanced the sequence. Backends without it leave it undefined and the
   * engine samples on the host.
   */
  forwardSample?(
    sequence: number,
    tokens: readonly number[],
    request: DeviceSampleRequest,
    options?: ForwardSampleOptions,
  ): Promise<number>;
  /**
   * Optional: one decode step on each of several sequences in a single pass (continuous batching),
   * so the weights are read once for all of them. Step i appends `steps[i].token` to its sequence
   * exactly as `forward(sequence, [token])` would (DESIGN §3; a sequence may be empty, which is then
   * a one-token first chunk) and row i of the result holds its logits. Sequences must be distinct;
   * every step is checked (as `forward` checks) before anything runs, and a bad step rejects the
   * whole call. Aborting `options.signal` rejects with an `AbortedError` and advances no sequence.
   * Backends without a batched pass leave it undefined; callers then use `forward` per sequence.
   */
  forwardBatch?(
    steps: readonly DecodeStep[],
    options?: { readonly signal?: AbortSignal },
  ): Promise<DecodeBatchResult>;
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
  /**
   * Loads `model` for gate training (present when `capabilities.training`): the frozen weights plus
   * whatever buffers a training step needs, sized for `options.maxTokens`.
   */
  loadGateTrainer?(model: ModelSource, options: GateTrainerOptions): Promise<GateTrainer>;
}
