// The reference executor: DESIGN §3 written as plain float32 loops. It is the oracle other backends
// are checked against, so clarity wins over speed everywhere here.
import type { Executor, ForwardOptions, ForwardResult, MemoryReport } from '../backend/backend.js';
import { AbortedError, CapacityError, DisposedError, ExecutorBusyError } from '../backend/backend-errors.js';
import { checkForwardRequest, checkSequenceIndex } from '../backend/validate-forward.js';
import type { LayerWeights, ModelConfig, ModelWeights } from '../model/model-types.js';
import { dynamicRopeLength } from '../model/rope.js';
import { RopeAngleTable } from '../model/rope-angle-table.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { applyRope, dot, linear, rmsNorm, silu } from './reference-math.js';
import { type CacheShape, SequenceCache } from './sequence-cache.js';

/** Everything the executor needs, already validated and reordered by the backend. */
export interface ReferenceExecutorInit {
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  /** Weights with each layer's retrieval heads first (see `reorderWeights`). */
  readonly weights: ModelWeights;
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
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(init: ReferenceExecutorInit) {
    this.config = init.config;
    this.policy = init.policy;
    this.weights = init.weights;
    this.maxTokens = init.maxTokens;
    this.maxSequences = init.maxSequences;
    this.observer = init.observer;
    this.rope = new RopeAngleTable(init.config.rope, init.config.headDim);
    this.shape = {
      headDim: init.config.headDim,
      retrievalHeads: init.policy.layers.map((split) => split.retrievalKvHeads.length),
      streamingHeads: init.policy.layers.map((split) => split.streamingKvHeads.length),
      window: init.policy.sinkSize + init.policy.recentSize,
      maxTokens: init.maxTokens,
      initialRopeLength: init.config.maxPositionEmbeddings,
    };
    this.sequences = new Array<SequenceCache | undefined>(init.maxSequences).fill(undefined);
    const arrays = new Set<Float32Array>([init.weights.embedTokens, init.weights.norm, init.weights.lmHead]);
    for (const layer of init.weights.layers) {
      for (const value of Object.values(layer)) if (value instanceof Float32Array) arrays.add(value);
    }
    let bytes = 0;
    for (const array of arrays) bytes += array.byteLength;
    this.weightByteCount = bytes;
  }

  forward(sequence: number, tokens: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    if (this.disposed) return Promise.reject(new DisposedError('forward'));
    try {
      // Everything but capacity can be checked now; capacity depends on the calls queued before.
      checkForwardRequest(
        { maxSequences: this.maxSequences, maxTokens: this.maxTokens, vocabSize: this.config.vocabSize },
        sequence,
        tokens,
        0,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    const ids = [...tokens];
    const run = this.queue.then(() => this.runForward(sequence, ids, options));
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
    this.sequences.fill(undefined);
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
    checkForwardRequest(
      { maxSequences: this.maxSequences, maxTokens: this.maxTokens, vocabSize: this.config.vocabSize },
      sequence,
      tokens,
      existing?.length ?? 0,
    );
    const cache = existing ?? new SequenceCache(this.shape);
    this.running.add(sequence);
    try {
      return await this.compute(cache, sequence, tokens, options, what);
    } finally {
      this.running.delete(sequence);
    }
  }

  /** One forward pass. Cache state is committed at the end, so an abort leaves the sequence unchanged. */
  private async compute(
    cache: SequenceCache,
    sequence: number,
    tokens: readonly number[],
    options: ForwardOptions,
    what: string,
  ): Promise<ForwardResult> {
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

    // Commit: the tokens are now part of the sequence.
    cache.length = start + rows;
    cache.ropeLength = ropeLength;
    pending.forEach((streaming, layer) => {
      const layerCache = cache.layers[layer]!;
      layerCache.streamingKeys = streaming.keys;
      layerCache.streamingValues = streaming.values;
      layerCache.streamingCount = streaming.count;
    });
    this.sequences[sequence] = cache;

    const outRows = options.allLogits ? rows : 1;
    const last = hidden.subarray((rows - outRows) * hiddenSize);
    const normed = rmsNorm(last, outRows, hiddenSize, weights.norm, rmsNormEps);
    const logits = linear(normed, outRows, weights.lmHead, hiddenSize, vocabSize);
    return { logits, numRows: outRows, vocabSize };
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

    // Attention block.
    const x = rmsNorm(hidden, rows, hiddenSize, w.inputNorm, rmsNormEps);
    this.observer?.(layer, 'qkv', x, rows);
    const q = linear(x, rows, w.qProj, hiddenSize, numHeads * headDim, w.qBias); // [rows, numHeads, headDim]
    const k = linear(x, rows, w.kProj, hiddenSize, numKvHeads * headDim, w.kBias); // [rows, numKvHeads, headDim]
    const v = linear(x, rows, w.vProj, hiddenSize, numKvHeads * headDim, w.vBias); // [rows, numKvHeads, headDim]
    applyRope(q, rows, numHeads, headDim, angles.cos, angles.sin);
    applyRope(k, rows, numKvHeads, headDim, angles.cos, angles.sin);

    // Retrieval heads (slots 0..numRetrieval-1) append to their growing cache first, so each query
    // then sees keys 0..p from one place.
    for (let t = 0; t < rows; t++) {
      for (let h = 0; h < numRetrieval; h++) {
        const from = (t * numKvHeads + h) * headDim;
        const to = ((start + t) * numRetrieval + h) * headDim;
        layerCache.retrievalKeys.set(k.subarray(from, from + headDim), to);
        layerCache.retrievalValues.set(v.subarray(from, from + headDim), to);
      }
    }

    const attention = new Float32Array(rows * numHeads * headDim); // [rows, numHeads, headDim]
    const scale = 1 / Math.sqrt(headDim);
    for (let t = 0; t < rows; t++) {
      const position = start + t;
      for (let qh = 0; qh < numHeads; qh++) {
        const kvHead = Math.floor(qh / groupSize);
        const spans: KeySpan[] = [];
        if (kvHead < numRetrieval) {
          spans.push({
            keys: layerCache.retrievalKeys,
            values: layerCache.retrievalValues,
            count: position + 1,
            heads: numRetrieval,
            head: kvHead,
          });
        } else {
          // Streaming head: sink+recent cache (empty on the first chunk) plus this chunk up to t.
          if (start > 0) {
            spans.push({
              keys: layerCache.streamingKeys,
              values: layerCache.streamingValues,
              count: layerCache.streamingCount,
              heads: numStreaming,
              head: kvHead - numRetrieval,
            });
          }
          spans.push({ keys: k, values: v, count: t + 1, heads: numKvHeads, head: kvHead });
        }
        attend(q, (t * numHeads + qh) * headDim, headDim, scale, spans, attention);
      }
    }

    this.observer?.(layer, 'o', attention, rows);
    const attentionOut = linear(attention, rows, w.oProj, numHeads * headDim, hiddenSize);
    for (let i = 0; i < hidden.length; i++) hidden[i] = hidden[i]! + attentionOut[i]!;

    // MLP block: down(silu(gate(x)) * up(x)).
    const y = rmsNorm(hidden, rows, hiddenSize, w.postAttentionNorm, rmsNormEps);
    this.observer?.(layer, 'gateUp', y, rows);
    const gate = linear(y, rows, w.gateProj, hiddenSize, intermediateSize, w.gateBias);
    const up = linear(y, rows, w.upProj, hiddenSize, intermediateSize, w.upBias);
    for (let i = 0; i < gate.length; i++) gate[i] = Math.fround(silu(gate[i]!)) * up[i]!;
    this.observer?.(layer, 'down', gate, rows);
    const mlpOut = linear(gate, rows, w.downProj, intermediateSize, hiddenSize, w.downBias);
    for (let i = 0; i < hidden.length; i++) hidden[i] = hidden[i]! + mlpOut[i]!;

    return this.compressStreaming(layerCache, k, v, rows, numRetrieval, numStreaming);
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
    const { sinkSize, recentSize } = this.policy;
    const window = sinkSize + recentSize;
    const keys = new Float32Array(window * numStreaming * headDim);
    const values = new Float32Array(window * numStreaming * headDim);
    if (numStreaming === 0) return { keys, values, count: 0 };
    const old = layerCache.streamingCount;
    const total = old + rows;
    const count = Math.min(total, window);
    const tokenSize = numStreaming * headDim;
    for (let slot = 0; slot < count; slot++) {
      // Slot → index in the concatenation: identity while it fits, else first S then last R.
      const index = total <= window || slot < sinkSize ? slot : total - window + slot;
      if (index < old) {
        keys.set(
          layerCache.streamingKeys.subarray(index * tokenSize, (index + 1) * tokenSize),
          slot * tokenSize,
        );
        values.set(
          layerCache.streamingValues.subarray(index * tokenSize, (index + 1) * tokenSize),
          slot * tokenSize,
        );
      } else {
        const from = ((index - old) * numKvHeads + numRetrieval) * headDim;
        keys.set(k.subarray(from, from + tokenSize), slot * tokenSize);
        values.set(v.subarray(from, from + tokenSize), slot * tokenSize);
      }
    }
    return { keys, values, count };
  }
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
