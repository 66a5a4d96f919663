// The reference executor: DESIGN §3 written as plain float32 loops. It is the oracle other backends
// are checked against, so clarity wins over speed everywhere here.
import type {
  DecodeBatchResult,
  DecodeStep,
  Executor,
  ForwardOptions,
  ForwardResult,
  MemoryReport,
} from '../backend/backend.js';
import { AbortedError, CapacityError, DisposedError, ExecutorBusyError } from '../backend/backend-errors.js';
import { checkDecodeBatch, checkForwardRequest, checkSequenceIndex } from '../backend/validate-forward.js';
import type { LayerWeights, ModelConfig, ModelWeights } from '../model/model-types.js';
import { dynamicRopeLength } from '../model/rope.js';
import { RopeAngleTable } from '../model/rope-angle-table.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import {
  allocateKv4Groups,
  copyKv4Groups,
  dequantizeKv4Group,
  type Kv4Groups,
  quantizeKv4Into,
} from '../quant/kv4-codec.js';
import { linearW8A8 } from '../quant/w8a8-linear.js';
import type { W8A8LayerWeights, W8A8Weights } from '../quant/w8a8-weights.js';
import { applyRope, dot, linear, rmsNorm, silu } from './reference-math.js';
import { type CacheShape, SequenceCache } from './sequence-cache.js';

/** Everything the executor needs, already validated and reordered by the backend. */
export interface ReferenceExecutorInit {
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  /** Weights with each layer's retrieval heads first (see `reorderWeights`). */
  readonly weights: ModelWeights;
  /** Int8 linears, reordered the same way (`reorderW8A8Weights`): the layer runs them W8A8. */
  readonly w8a8?: W8A8Weights;
  readonly maxTokens: number;
  readonly maxSequences: number;
  /** Sees the input of each linear layer as it runs (calibration); not called otherwise. */
  readonly observer?: ActivationObserver;
}

/** The inputs of a decoder layer's linears: q|k|v share one, gate|up share one. */
export type LinearInputSite = 'qkv' | 'o' | 'gateUp' | 'down';

/**
 * Called with `x` `[rows, features]` f32 just before the linears of `site` in `layer` consume it
 * (features: hiddenSize, or numHeads·headDim for `o` in reordered head order, or intermediateSize
 * for `down`). `x` is the executor's own buffer: read it during the call, never keep or change it.
 */
export type ActivationObserver = (
  layer: number,
  site: LinearInputSite,
  x: Float32Array,
  rows: number,
) => void;

/** A contiguous run of cached keys/values one query attends to. */
interface KeySpan {
  /** `[tokens, heads, headDim]` f32. */
  readonly keys: Float32Array;
  readonly values: Float32Array;
  /** Tokens of the span to use, from token 0. */
  readonly count: number;
  /** Heads per token in these arrays. */
  readonly heads: number;
  /** Head slot to read. */
  readonly head: number;
}

/** Streaming caches computed by a forward pass, committed only when the whole pass succeeds. */
interface PendingStreaming {
  readonly keys: Float32Array;
  readonly values: Float32Array;
  readonly count: number;
  /** The KV4 caches, when the cache dtype is int4. */
  readonly kv4?: { readonly keys: Kv4Groups; readonly values: Kv4Groups };
}

/** Executor of the reference backend. Forward calls run one at a time, in call order. */
export class ReferenceExecutor implements Executor {
  readonly backendName = 'reference';
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  private readonly maxSequences: number;
  private weights: ModelWeights | undefined;
  private readonly rope: RopeAngleTable;
  private readonly shape: CacheShape;
  private readonly sequences: (SequenceCache | undefined)[];
  private readonly weightByteCount: number;
  private readonly running = new Set<number>();
  private readonly observer: ActivationObserver | undefined;
  private w8a8: W8A8Weights | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(init: ReferenceExecutorInit) {
    this.config = init.config;
    this.policy = init.policy;
    this.weights = init.weights;
    this.maxTokens = init.maxTokens;
    this.maxSequences = init.maxSequences;
    this.observer = init.observer;
    this.w8a8 = init.w8a8;
    this.rope = new RopeAngleTable(init.config.rope, init.config.headDim);
    this.shape = {
      headDim: init.config.headDim,
      retrievalHeads: init.policy.layers.map((split) => split.retrievalKvHeads.length),
      streamingHeads: init.policy.layers.map((split) => split.streamingKvHeads.length),
      window: init.policy.sinkSize + init.policy.recentSize,
      maxTokens: init.maxTokens,
      initialRopeLength: init.config.maxPositionEmbeddings,
      kv4: init.policy.cacheDtype === 'int4',
    };
    this.sequences = new Array<SequenceCache | undefined>(init.maxSequences).fill(undefined);
    const arrays = new Set<Float32Array>([init.weights.embedTokens, init.weights.norm, init.weights.lmHead]);
    for (const layer of init.weights.layers) {
      for (const value of Object.values(layer)) if (value instanceof Float32Array) arrays.add(value);
    }
    for (const layer of init.w8a8?.layers ?? []) {
      for (const linear of Object.values(layer)) {
        arrays.add(linear.scale);
      }
    }
    let bytes = 0;
    for (const array of arrays) bytes += array.byteLength;
    for (const layer of init.w8a8?.layers ?? []) {
      for (const linear of Object.values(layer)) bytes += linear.weight.byteLength;
    }
    this.weightByteCount = bytes;
  }

  forward(sequence: number, tokens: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    if (this.disposed) return Promise.reject(new DisposedError('forward'));
    try {
      // Everything but capacity can be checked now; capacity depends on the calls queued before.
      checkForwardRequest(this.limits(), sequence, tokens, 0);
    } catch (error) {
      return Promise.reject(error);
    }
    const ids = [...tokens];
    const run = this.queue.then(() => this.runForward(sequence, ids, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The batched decode step, computed one sequence after another (this backend is the oracle, not
   * fast): every step's pass runs before any commits, so an abort of the batch advances nothing.
   */
  forwardBatch(
    steps: readonly DecodeStep[],
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<DecodeBatchResult> {
    if (this.disposed) return Promise.reject(new DisposedError('forwardBatch'));
    try {
      checkDecodeBatch(this.limits(), steps);
    } catch (error) {
      return Promise.reject(error);
    }
    const copy = steps.map((step) => ({ ...step }));
    const run = this.queue.then(() => this.runBatch(copy, options.signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  length(sequence: number): number {
    this.assertLive('length');
    checkSequenceIndex(sequence, this.maxSequences);
    return this.sequences[sequence]?.length ?? 0;
  }

  reset(sequence: number): void {
    this.assertLive('reset');
    checkSequenceIndex(sequence, this.maxSequences);
    if (this.running.has(sequence)) {
      throw new ExecutorBusyError(`reset of sequence ${sequence} while a forward pass on it is running`);
    }
    this.sequences[sequence] = undefined;
  }

  fillSyntheticCache(sequence: number, length: number, seed = 0): Promise<void> {
    try {
      this.assertLive('fillSyntheticCache');
      checkSequenceIndex(sequence, this.maxSequences);
      if (!Number.isSafeInteger(length) || length < 0 || length > this.maxTokens) {
        throw new CapacityError(
          `cannot fill ${length} tokens: the executor holds at most ${this.maxTokens} per sequence`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.queue.then(() => {
      const cache = new SequenceCache(this.shape);
      cache.fillSynthetic(length, seed);
      this.sequences[sequence] = cache;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  memory(): MemoryReport {
    this.assertLive('memory');
    let allocated = 0;
    let retrieval = 0;
    let streaming = 0;
    for (const cache of this.sequences) {
      if (cache === undefined) continue;
      allocated += cache.allocatedBytes();
      retrieval += cache.retrievalBytesUsed();
      streaming += cache.streamingBytesUsed();
    }
    return {
      kvBytesAllocated: allocated,
      kvBytesUsed: retrieval + streaming,
      retrievalKvBytesUsed: retrieval,
      streamingKvBytesUsed: streaming,
      weightBytes: this.weightByteCount,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    this.weights = undefined;
    this.w8a8 = undefined;
    this.sequences.fill(undefined);
  }

  private limits() {
    return { maxSequences: this.maxSequences, maxTokens: this.maxTokens, vocabSize: this.config.vocabSize };
  }

  private async runBatch(
    steps: readonly DecodeStep[],
    signal: AbortSignal | undefined,
  ): Promise<DecodeBatchResult> {
    const what = 'forwardBatch';
    if (this.disposed) throw new DisposedError(what);
    if (signal?.aborted) throw new AbortedError(what, signal.reason);
    checkDecodeBatch(this.limits(), steps, (sequence) => this.sequences[sequence]?.length ?? 0);
    const { vocabSize } = this.config;
    const logits = new Float32Array(steps.length * vocabSize);
    const aborted = steps.map(() => false);
    const commits: (() => void)[] = [];
    for (const step of steps) this.running.add(step.sequence);
    try {
      for (const [index, step] of steps.entries()) {
        if (step.signal?.aborted) {
          aborted[index] = true;
          continue;
        }
        const cache = this.sequences[step.sequence] ?? new SequenceCache(this.shape);
        // The batch's signal aborts the whole call; a step's own signal only skips that step.
        const pass = await this.compute(cache, step.sequence, [step.token], { signal }, what);
        if (step.signal?.aborted) {
          aborted[index] = true;
          continue;
        }
        logits.set(pass.result.logits, index * vocabSize);
        commits.push(pass.commit);
      }
    } finally {
      for (const step of steps) this.running.delete(step.sequence);
    }
    for (const commit of commits) commit();
    return { logits, numRows: steps.length, vocabSize, aborted };
  }

  private assertLive(what: string): void {
    if (this.disposed) throw new DisposedError(what);
  }

  private async runForward(
    sequence: number,
    tokens: number[],
    options: ForwardOptions,
  ): Promise<ForwardResult> {
    const what = `forward on sequence ${sequence}`;
    if (this.disposed) throw new DisposedError(what);
    if (options.signal?.aborted) throw new AbortedError(what, options.signal.reason);
    const existing = this.sequences[sequence];
    checkForwardRequest(this.limits(), sequence, tokens, existing?.length ?? 0);
    const cache = existing ?? new SequenceCache(this.shape);
    this.running.add(sequence);
    try {
      const pass = await this.compute(cache, sequence, tokens, options, what);
      pass.commit();
      return pass.result;
    } finally {
      this.running.delete(sequence);
    }
  }

  /**
   * One forward pass; nothing is committed until the returned `commit` runs, so an abort (or a
   * batch that is abandoned) leaves the sequence unchanged. The chunk's retrieval K/V are written
   * beyond the committed length, where an uncommitted pass leaves them unused.
   */
  private async compute(
    cache: SequenceCache,
    sequence: number,
    tokens: readonly number[],
    options: ForwardOptions,
    what: string,
  ): Promise<{ result: ForwardResult; commit: () => void }> {
    const weights = this.weights!;
    const { hiddenSize, vocabSize, rmsNormEps } = this.config;
    const rows = tokens.length;
    const start = cache.length;
    cache.ensureCapacity(start + rows);

    // [rows, hiddenSize] f32
    const hidden = new Float32Array(rows * hiddenSize);
    tokens.forEach((id, t) => {
      hidden.set(weights.embedTokens.subarray(id * hiddenSize, (id + 1) * hiddenSize), t * hiddenSize);
    });
    // Dynamic NTK follows HF's stateful rule, kept per sequence and committed with the pass.
    const ropeLength = this.rope.dynamic
      ? dynamicRopeLength(cache.ropeLength, start + rows, this.config.maxPositionEmbeddings)
      : cache.ropeLength;
    const angles = this.rope.angles(start, rows, ropeLength);
    const pending: PendingStreaming[] = [];

    for (let layer = 0; layer < this.config.numLayers; layer++) {
      // Between layers: let other work (and abort events) run, then honour disposal and abort.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.disposed) throw new DisposedError(what);
      if (options.signal?.aborted) throw new AbortedError(what, options.signal.reason);
      pending.push(this.layerForward(layer, weights.layers[layer]!, cache, hidden, rows, start, angles));
    }

    const commit = (): void => {
      // The tokens are now part of the sequence.
      cache.length = start + rows;
      cache.ropeLength = ropeLength;
      pending.forEach((streaming, layer) => {
        const layerCache = cache.layers[layer]!;
        layerCache.streamingKeys = streaming.keys;
        layerCache.streamingValues = streaming.values;
        if (streaming.kv4 !== undefined && layerCache.kv4 !== undefined) {
          layerCache.kv4.streamingKeys = streaming.kv4.keys;
          layerCache.kv4.streamingValues = streaming.kv4.values;
        }
        layerCache.streamingCount = streaming.count;
      });
      this.sequences[sequence] = cache;
    };

    const outRows = options.allLogits ? rows : 1;
    const last = hidden.subarray((rows - outRows) * hiddenSize);
    const normed = rmsNorm(last, outRows, hiddenSize, weights.norm, rmsNormEps);
    const logits = linear(normed, outRows, weights.lmHead, hiddenSize, vocabSize);
    return { result: { logits, numRows: outRows, vocabSize }, commit };
  }

  /**
   * One decoder layer on `hidden` `[rows, hiddenSize]` f32, in place. Writes the chunk's retrieval
   * K/V into the cache beyond the committed length and returns the layer's next streaming cache.
   */
  private layerForward(
    layer: number,
    w: LayerWeights,
    cache: SequenceCache,
    hidden: Float32Array,
    rows: number,
    start: number,
    angles: { cos: Float32Array; sin: Float32Array },
  ): PendingStreaming {
    const { hiddenSize, numHeads, numKvHeads, headDim, intermediateSize, rmsNormEps } = this.config;
    const groupSize = numHeads / numKvHeads;
    const numRetrieval = this.shape.retrievalHeads[layer]!;
    const numStreaming = numKvHeads - numRetrieval;
    const layerCache = cache.layers[layer]!;
    const int8 = this.w8a8?.layers[layer];
    // A linear layer: float32, or W8A8 (int8 weights × per-token int8 activations) when loaded so.
    const project = (
      x: Float32Array,
      name: keyof W8A8LayerWeights,
      inFeatures: number,
      outFeatures: number,
      bias?: Float32Array,
    ): Float32Array =>
      int8 === undefined
        ? linear(x, rows, w[name], inFeatures, outFeatures, bias)
        : linearW8A8(x, rows, int8[name], bias);

    // Attention block.
    const x = rmsNorm(hidden, rows, hiddenSize, w.inputNorm, rmsNormEps);
    this.observer?.(layer, 'qkv', x, rows);
    const q = project(x, 'qProj', hiddenSize, numHeads * headDim, w.qBias); // [rows, numHeads, headDim]
    const k = project(x, 'kProj', hiddenSize, numKvHeads * headDim, w.kBias); // [rows, numKvHeads, headDim]
    const v = project(x, 'vProj', hiddenSize, numKvHeads * headDim, w.vBias); // [rows, numKvHeads, headDim]
    applyRope(q, rows, numHeads, headDim, angles.cos, angles.sin);
    applyRope(k, rows, numKvHeads, headDim, angles.cos, angles.sin);

    // KV4: the chunk's K/V as codes (group t * numKvHeads + h). As in the original, the first chunk
    // attends to the exact values and every later step to the codes, its own tokens included.
    const chunk4 = layerCache.kv4 === undefined ? undefined : quantizeChunk(k, v, rows * numKvHeads, headDim);

    // Retrieval heads (slots 0..numRetrieval-1) append to their growing cache first, so each query
    // then sees keys 0..p from one place.
    for (let t = 0; t < rows; t++) {
      if (layerCache.kv4 !== undefined) {
        const from = t * numKvHeads;
        const to = (start + t) * numRetrieval;
        copyKv4Groups(chunk4!.keys, from, layerCache.kv4.retrievalKeys, to, numRetrieval);
        copyKv4Groups(chunk4!.values, from, layerCache.kv4.retrievalValues, to, numRetrieval);
        continue;
      }
      for (let h = 0; h < numRetrieval; h++) {
        const from = (t * numKvHeads + h) * headDim;
        const to = ((start + t) * numRetrieval + h) * headDim;
        layerCache.retrievalKeys.set(k.subarray(from, from + headDim), to);
        layerCache.retrievalValues.set(v.subarray(from, from + headDim), to);
      }
    }

    const attention = new Float32Array(rows * numHeads * headDim); // [rows, numHeads, headDim]
    const scale = 1 / Math.sqrt(headDim);
    // KV4 after the first chunk: attention reads the codes' values (the codec's dequantization,
    // exactly what a kernel reading codes per key computes), dequantized here once per layer call.
    const kv4 = layerCache.kv4 !== undefined && start > 0 ? layerCache.kv4 : undefined;
    const retrievalKeys = kv4
      ? dequantizeKv4Prefix(kv4.retrievalKeys, (start + rows) * numRetrieval)
      : layerCache.retrievalKeys;
    const retrievalValues = kv4
      ? dequantizeKv4Prefix(kv4.retrievalValues, (start + rows) * numRetrieval)
      : layerCache.retrievalValues;
    const streamingGroups = layerCache.streamingCount * numStreaming;
    const streamingKeys = kv4
      ? dequantizeKv4Prefix(kv4.streamingKeys, streamingGroups)
      : layerCache.streamingKeys;
    const streamingValues = kv4
      ? dequantizeKv4Prefix(kv4.streamingValues, streamingGroups)
      : layerCache.streamingValues;
    const chunkKeys = kv4 ? dequantizeKv4Prefix(chunk4!.keys, rows * numKvHeads) : k;
    const chunkValues = kv4 ? dequantizeKv4Prefix(chunk4!.values, rows * numKvHeads) : v;
    for (let t = 0; t < rows; t++) {
      const position = start + t;
      for (let qh = 0; qh < numHeads; qh++) {
        const kvHead = Math.floor(qh / groupSize);
        const spans: KeySpan[] = [];
        const chunkSpan: KeySpan = {
          keys: chunkKeys,
          values: chunkValues,
          count: t + 1,
          heads: numKvHeads,
          head: kvHead,
        };
        if (kvHead < numRetrieval) {
          if (layerCache.kv4 !== undefined && kv4 === undefined) {
            spans.push(chunkSpan); // first chunk with KV4: keys 0..p are this chunk's, exact
          } else {
            spans.push({
              keys: retrievalKeys,
              values: retrievalValues,
              count: position + 1,
              heads: numRetrieval,
              head: kvHead,
            });
          }
        } else {
          // Streaming head: sink+recent cache (empty on the first chunk) plus this chunk up to t.
          if (start > 0) {
            spans.push({
              keys: streamingKeys,
              values: streamingValues,
              count: layerCache.streamingCount,
              heads: numStreaming,
              head: kvHead - numRetrieval,
            });
          }
          spans.push(chunkSpan);
        }
        attend(q, (t * numHeads + qh) * headDim, headDim, scale, spans, attention);
      }
    }

    this.observer?.(layer, 'o', attention, rows);
    const attentionOut = project(attention, 'oProj', numHeads * headDim, hiddenSize);
    for (let i = 0; i < hidden.length; i++) hidden[i] = hidden[i]! + attentionOut[i]!;

    // MLP block: down(silu(gate(x)) * up(x)).
    const y = rmsNorm(hidden, rows, hiddenSize, w.postAttentionNorm, rmsNormEps);
    this.observer?.(layer, 'gateUp', y, rows);
    const gate = project(y, 'gateProj', hiddenSize, intermediateSize, w.gateBias);
    const up = project(y, 'upProj', hiddenSize, intermediateSize, w.upBias);
    for (let i = 0; i < gate.length; i++) gate[i] = Math.fround(silu(gate[i]!)) * up[i]!;
    this.observer?.(layer, 'down', gate, rows);
    const mlpOut = project(gate, 'downProj', intermediateSize, hiddenSize, w.downBias);
    for (let i = 0; i < hidden.length; i++) hidden[i] = hidden[i]! + mlpOut[i]!;

    return chunk4 === undefined
      ? this.compressStreaming(layerCache, k, v, rows, numRetrieval, numStreaming)
      : this.compressStreamingKv4(layerCache, chunk4, rows, numRetrieval, numStreaming);
  }

  /**
   * The streaming cache after this chunk: `[old cache ; chunk]` (n tokens) kept whole when
   * n ≤ S + R, else its first S and last R tokens (reference spec §3.4).
   */
  private compressStreaming(
    layerCache: SequenceCache['layers'][number],
    k: Float32Array,
    v: Float32Array,
    rows: number,
    numRetrieval: number,
    numStreaming: number,
  ): PendingStreaming {
    const { headDim, numKvHeads } = this.config;
    const window = this.policy.sinkSize + this.policy.recentSize;
    const keys = new Float32Array(window * numStreaming * headDim);
    const values = new Float32Array(window * numStreaming * headDim);
    if (numStreaming === 0) return { keys, values, count: 0 };
    const tokenSize = numStreaming * headDim;
    const count = this.forEachKeptToken(layerCache.streamingCount, rows, (slot, index, old) => {
      if (old) {
        keys.set(
          layerCache.streamingKeys.subarray(index * tokenSize, (index + 1) * tokenSize),
          slot * tokenSize,
        );
        values.set(
          layerCache.streamingValues.subarray(index * tokenSize, (index + 1) * tokenSize),
          slot * tokenSize,
        );
      } else {
        const from = (index * numKvHeads + numRetrieval) * headDim;
        keys.set(k.subarray(from, from + tokenSize), slot * tokenSize);
        values.set(v.subarray(from, from + tokenSize), slot * tokenSize);
      }
    });
    return { keys, values, count };
  }

  /** {@link compressStreaming} on KV4 codes: the same tokens kept, their groups copied as they are. */
  private compressStreamingKv4(
    layerCache: SequenceCache['layers'][number],
    chunk: ChunkKv4,
    rows: number,
    numRetrieval: number,
    numStreaming: number,
  ): PendingStreaming {
    const { headDim, numKvHeads } = this.config;
    const window = this.policy.sinkSize + this.policy.recentSize;
    const kv4 = {
      keys: allocateKv4Groups(window * numStreaming, headDim),
      values: allocateKv4Groups(window * numStreaming, headDim),
    };
    const empty = new Float32Array(0);
    if (numStreaming === 0) return { keys: empty, values: empty, count: 0, kv4 };
    const old = layerCache.kv4!;
    const count = this.forEachKeptToken(layerCache.streamingCount, rows, (slot, index, fromOld) => {
      const to = slot * numStreaming;
      if (fromOld) {
        copyKv4Groups(old.streamingKeys, index * numStreaming, kv4.keys, to, numStreaming);
        copyKv4Groups(old.streamingValues, index * numStreaming, kv4.values, to, numStreaming);
      } else {
        const from = index * numKvHeads + numRetrieval;
        copyKv4Groups(chunk.keys, from, kv4.keys, to, numStreaming);
        copyKv4Groups(chunk.values, from, kv4.values, to, numStreaming);
      }
    });
    return { keys: empty, values: empty, count, kv4 };
  }

  /**
   * Calls `keep(slot, index, old)` for each slot of the next streaming cache: identity while the
   * `[old ; chunk]` concatenation fits in S + R, else its first S then last R tokens. `index` is in
   * the old cache when `old`, else in the chunk. Returns the number of slots filled.
   */
  private forEachKeptToken(
    oldCount: number,
    rows: number,
    keep: (slot: number, index: number, old: boolean) => void,
  ): number {
    const { sinkSize, recentSize } = this.policy;
    const window = sinkSize + recentSize;
    const total = oldCount + rows;
    const count = Math.min(total, window);
    for (let slot = 0; slot < count; slot++) {
      const index = total <= window || slot < sinkSize ? slot : total - window + slot;
      if (index < oldCount) keep(slot, index, true);
      else keep(slot, index - oldCount, false);
    }
    return count;
  }
}

/** A chunk's K and V as KV4 groups, group `t * numKvHeads + h`. */
interface ChunkKv4 {
  readonly keys: Kv4Groups;
  readonly values: Kv4Groups;
}

/** The first `groups` groups of `source` dequantized, `[groups * groupSize]` f32. */
function dequantizeKv4Prefix(source: Kv4Groups, groups: number): Float32Array {
  const out = new Float32Array(groups * source.groupSize);
  for (let group = 0; group < groups; group++)
    dequantizeKv4Group(source, group, out, group * source.groupSize);
  return out;
}

function quantizeChunk(k: Float32Array, v: Float32Array, groups: number, headDim: number): ChunkKv4 {
  const keys = allocateKv4Groups(groups, headDim);
  const values = allocateKv4Groups(groups, headDim);
  quantizeKv4Into(k, 0, groups, keys, 0);
  quantizeKv4Into(v, 0, groups, values, 0);
  return { keys, values };
}

/**
 * Softmax attention of one query head over the keys of `spans`, written to
 * `out[queryOffset .. queryOffset + headDim)`. `q` and `out` are `[rows, numHeads, headDim]` f32.
 */
function attend(
  q: Float32Array,
  queryOffset: number,
  headDim: number,
  scale: number,
  spans: readonly KeySpan[],
  out: Float32Array,
): void {
  let total = 0;
  for (const span of spans) total += span.count;
  const scores = new Float64Array(total);
  let index = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (const span of spans) {
    for (let j = 0; j < span.count; j++) {
      const keyOffset = (j * span.heads + span.head) * headDim;
      const score = dot(q, queryOffset, span.keys, keyOffset, headDim) * scale;
      scores[index++] = score;
      if (score > max) max = score;
    }
  }
  let sum = 0;
  for (let j = 0; j < total; j++) {
    scores[j] = Math.exp(scores[j]! - max);
    sum += scores[j]!;
  }
  const accumulator = new Float64Array(headDim);
  index = 0;
  for (const span of spans) {
    for (let j = 0; j < span.count; j++) {
      const weight = scores[index++]! / sum;
      const valueOffset = (j * span.heads + span.head) * headDim;
      for (let i = 0; i < headDim; i++)
        accumulator[i] = accumulator[i]! + weight * span.values[valueOffset + i]!;
    }
  }
  for (let i = 0; i < headDim; i++) out[queryOffset + i] = accumulator[i]!;
}
