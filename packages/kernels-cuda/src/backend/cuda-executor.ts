// The cuda backend's executor: validates every call before it reaches the GPU, keeps each sequence's
// length and RoPE state on the JS side (the native model checks it agrees), computes RoPE cos/sin with
// core's code, and turns native failures into typed errors. Calls never block the event loop.
// forwardSample selects the next token on the GPU, so decoding copies back 4 bytes, not the logits.
import {
  AbortedError,
  CapacityError,
  checkDecodeBatch,
  checkForwardRequest,
  checkSequenceIndex,
  type DecodeBatchResult,
  type DecodeStep,
  type DeviceSampleRequest,
  DisposedError,
  dynamicRopeLength,
  type Executor,
  ExecutorBusyError,
  type ForwardOptions,
  type ForwardResult,
  type ForwardSampleOptions,
  type KvCachePolicy,
  type MemoryReport,
  type ModelConfig,
  type ResolvedSamplingOptions,
  RopeAngleTable,
  resolveSamplingOptions,
  SamplingError,
  sampleToken,
} from '@duo-attn/core';
import type { NativeModel, NativeSampleRequest } from '../binding.js';
import { CudaRuntimeError } from '../errors.js';

/** Everything an executor starts from; the native model already holds its weights. */
export interface CudaExecutorInit {
  readonly native: NativeModel;
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  readonly maxSequences: number;
  /**
   * Offer `forwardBatch` (continuous batching). Default: on only when the environment has
   * DUO_CUDA_BATCH=1, until the batched pass has been verified on a GPU (docs/decisions/0008).
   */
  readonly batchDecode?: boolean;
}

interface SequenceState {
  length: number;
  /** Dynamic NTK's stateful length (HF semantics); maxPositionEmbeddings initially. */
  ropeLength: number;
  /** A forward or fill on this sequence is running. */
  busy: boolean;
}

/** bf16 bytes per cached element. */
const CACHE_ELEMENT_BYTES = 2;

type NativeCall<T> = (start: number, ids: Int32Array, cos: Float32Array, sin: Float32Array) => Promise<T>;

/** The `sampleCode` the addon attaches when the logits could not be sampled from, if any. */
function sampleCodeOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('sampleCode' in error)) return undefined;
  const code = (error as { sampleCode: unknown }).sampleCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Whether the device sampler, which takes its parameters as fp32, sees the same kind of request as
 * sampleToken: every value positive and finite where it must be, and every feature on or off as in
 * float64. (Values that merely round, like 0.7, are the documented fp32 caveat, not this.)
 */
function fp32Faithful(sampling: ResolvedSamplingOptions): boolean {
  const f = Math.fround;
  const penalty = f(sampling.repetitionPenalty);
  if (!(penalty > 0 && penalty < Number.POSITIVE_INFINITY)) return false;
  if ((penalty === 1) !== (sampling.repetitionPenalty === 1)) return false;
  if (sampling.greedy) return true;
  const temperature = f(sampling.temperature);
  return (
    temperature > 0 &&
    temperature < Number.POSITIVE_INFINITY &&
    f(sampling.topP) > 0 &&
    (f(sampling.topP) === 1) === (sampling.topP === 1)
  );
}

export class CudaExecutor implements Executor {
  readonly backendName = 'cuda';
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  private readonly maxSequences: number;
  private readonly native: NativeModel;
  private readonly sequences: SequenceState[];
  private readonly rope: RopeAngleTable;
  private disposed = false;
  /** See {@link Executor.forwardBatch}; present when {@link CudaExecutorInit.batchDecode} is on. */
  readonly forwardBatch?: (
    steps: readonly DecodeStep[],
    options?: { readonly signal?: AbortSignal },
  ) => Promise<DecodeBatchResult>;

  constructor(init: CudaExecutorInit) {
    if (init.batchDecode ?? process.env.DUO_CUDA_BATCH === '1') {
      this.forwardBatch = (steps, options) => this.runBatch(steps, options?.signal);
    }
    this.native = init.native;
    this.config = init.config;
    this.policy = init.policy;
    this.maxTokens = init.maxTokens;
    this.maxSequences = init.maxSequences;
    this.sequences = Array.from({ length: init.maxSequences }, () => this.freshSequence());
    this.rope = new RopeAngleTable(init.config.rope, init.config.headDim);
  }

  private freshSequence(): SequenceState {
    return { length: 0, ropeLength: this.config.maxPositionEmbeddings, busy: false };
  }

  async forward(
    sequence: number,
    tokens: readonly number[],
    options: ForwardOptions = {},
  ): Promise<ForwardResult> {
    const allLogits = options.allLogits ?? false;
    const logits = await this.run('forward', sequence, tokens, options.signal, (start, ids, cos, sin) =>
      this.native.forward(sequence, start, ids, cos, sin, allLogits),
    );
    return { logits, numRows: allLogits ? tokens.length : 1, vocabSize: this.config.vocabSize };
  }

  /**
   * The forward of {@link CudaExecutor.forward} with the last row's token selected on the GPU
   * (native/kernels/sampling.cuh): only the id comes back. The request is checked first
   * (SamplingError naming the field; ids the penalty applies to must be in the vocabulary). The
   * kernels take temperature, topP, the penalty and `uniform` as fp32, so the id equals
   * `sampleToken`'s exactly when those values are fp32-representable, except for a draw within
   * float rounding of a CDF boundary (sampling.cuh). A request whose meaning fp32 would change
   * (a temperature that rounds to 0, a penalty or topP that rounds to 1...) runs `forward` and
   * `sampleToken` instead. Logits that cannot be sampled from reject with a SamplingError naming
   * the sequence, which has then advanced like after a successful forward.
   */
  async forwardSample(
    sequence: number,
    tokens: readonly number[],
    request: DeviceSampleRequest,
    options: ForwardSampleOptions = {},
  ): Promise<number> {
    if (this.disposed) throw new DisposedError('forwardSample');
    const sampling = resolveSamplingOptions(request);
    const { uniform } = request;
    if (!sampling.greedy && !(typeof uniform === 'number' && uniform >= 0 && uniform < 1)) {
      throw new SamplingError(`uniform must be a number in [0, 1), got ${String(uniform)}`);
    }
    const { vocabSize } = this.config;
    // Copied now: the caller may extend its ids once this call is under way.
    const requested = sampling.repetitionPenalty !== 1 ? Array.from(request.previousTokens ?? []) : [];
    requested.forEach((id, index) => {
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
        throw new SamplingError(
          `previousTokens[${index}] = ${String(id)} is outside the vocabulary [0, ${vocabSize})`,
        );
      }
    });
    const penalised = Int32Array.from(requested);
    if (!fp32Faithful(sampling)) {
      const { logits } = await this.forward(sequence, tokens, { signal: options.signal });
      const draw = { nextFloat: () => uniform, nextUint32: () => Math.floor(uniform * 2 ** 32) };
      return sampleToken(logits, sampling, draw, penalised);
    }
    const native: NativeSampleRequest = {
      greedy: sampling.greedy,
      temperature: sampling.temperature,
      // sampleToken treats topK >= vocabSize as off, like 0.
      topK: sampling.topK >= vocabSize ? 0 : sampling.topK,
      topP: sampling.topP,
      repetitionPenalty: sampling.repetitionPenalty,
      uniform: sampling.greedy ? 0 : uniform,
      previousTokens: penalised,
    };
    return this.run('forwardSample', sequence, tokens, options.signal, (start, ids, cos, sin) =>
      this.native.forwardSample(sequence, start, ids, cos, sin, native),
    );
  }

  /**
   * What forward and forwardSample share: the checks, the sequence's busy flag, positions and RoPE
   * tables, the length bookkeeping and the error mapping around one native call.
   */
  private async run<T>(
    what: 'forward' | 'forwardSample',
    sequence: number,
    tokens: readonly number[],
    signal: AbortSignal | undefined,
    call: NativeCall<T>,
  ): Promise<T> {
    if (this.disposed) throw new DisposedError(what);
    if (signal?.aborted) throw new AbortedError(what, signal.reason);
    const { config } = this;
    const state = this.sequences[sequence];
    checkForwardRequest(
      { maxSequences: this.maxSequences, maxTokens: this.maxTokens, vocabSize: config.vocabSize },
      sequence,
      tokens,
      state?.length ?? 0,
    );
    if (state === undefined) throw new Error('unreachable: sequence checked above');
    if (state.busy) throw new ExecutorBusyError(`sequence ${sequence} already has a call running`);
    const start = state.length;
    const rows = tokens.length;
    const ropeLength =
      config.rope.type === 'dynamic'
        ? dynamicRopeLength(state.ropeLength, start + rows, config.maxPositionEmbeddings)
        : state.ropeLength;
    const { cos, sin } = this.rope.angles(start, rows, ropeLength);
    state.busy = true;
    let result: T;
    try {
      // Once the GPU has the call it runs to the end: an abort after this point is too late, and
      // the call resolves (undoing it would need the overwritten streaming-cache slots back).
      result = await call(start, Int32Array.from(tokens), cos, sin);
    } catch (error) {
      if (this.disposed) throw new DisposedError(what);
      if (sampleCodeOf(error) !== undefined) {
        // The forward ran and the native sequence advanced; only the selection failed. The addon's
        // message names the call, the sequence and the reason.
        state.length = start + rows;
        state.ropeLength = ropeLength;
        throw new SamplingError(error instanceof Error ? error.message : String(error));
      }
      throw new CudaRuntimeError(
        `${what} of ${rows} tokens on sequence ${sequence} at position ${start}`,
        error,
      );
    } finally {
      state.busy = false;
    }
    if (this.disposed) throw new DisposedError(what);
    state.length = start + rows;
    state.ropeLength = ropeLength;
    return result;
  }

  /**
   * One decode step on each sequence of `steps` in one native pass (the linears as GEMMs over the
   * batch rows, each row's attention and KV append on its own caches). As with `forward`, once the
   * GPU has the pass it runs to the end: a step whose signal aborted before that is skipped
   * (`aborted[i]`, its sequence unchanged), a later abort is too late and the step completes.
   */
  private async runBatch(
    steps: readonly DecodeStep[],
    signal: AbortSignal | undefined,
  ): Promise<DecodeBatchResult> {
    const what = 'forwardBatch';
    if (this.disposed) throw new DisposedError(what);
    if (signal?.aborted) throw new AbortedError(what, signal.reason);
    const { config } = this;
    checkDecodeBatch(
      { maxSequences: this.maxSequences, maxTokens: this.maxTokens, vocabSize: config.vocabSize },
      steps,
      (sequence) => this.sequences[sequence]!.length,
    );
    for (const step of steps) {
      if (this.sequences[step.sequence]!.busy) {
        throw new ExecutorBusyError(`sequence ${step.sequence} already has a call running`);
      }
    }
    const aborted = steps.map((step) => step.signal?.aborted === true);
    const rows = steps.filter((_, index) => !aborted[index]);
    const { vocabSize } = config;
    const logits = new Float32Array(steps.length * vocabSize);
    if (rows.length === 0) return { logits, numRows: steps.length, vocabSize, aborted };
    const half = config.headDim / 2;
    const cos = new Float32Array(rows.length * half);
    const sin = new Float32Array(rows.length * half);
    const planned = rows.map((step, row) => {
      const state = this.sequences[step.sequence]!;
      const start = state.length;
      const ropeLength =
        config.rope.type === 'dynamic'
          ? dynamicRopeLength(state.ropeLength, start + 1, config.maxPositionEmbeddings)
          : state.ropeLength;
      const angles = this.rope.angles(start, 1, ropeLength);
      cos.set(angles.cos, row * half);
      sin.set(angles.sin, row * half);
      return { state, start, ropeLength };
    });
    for (const { state } of planned) state.busy = true;
    let rowLogits: Float32Array;
    try {
      rowLogits = await this.native.forwardBatch(
        Int32Array.from(rows, (step) => step.sequence),
        Int32Array.from(planned, (plan) => plan.start),
        Int32Array.from(rows, (step) => step.token),
        cos,
        sin,
      );
    } catch (error) {
      if (this.disposed) throw new DisposedError(what);
      throw new CudaRuntimeError(`${what} of ${rows.length} decode steps`, error);
    } finally {
      for (const { state } of planned) state.busy = false;
    }
    if (this.disposed) throw new DisposedError(what);
    let row = 0;
    steps.forEach((_, index) => {
      if (aborted[index]) return;
      const { state, start, ropeLength } = planned[row]!;
      state.length = start + 1;
      state.ropeLength = ropeLength;
      logits.set(rowLogits.subarray(row * vocabSize, (row + 1) * vocabSize), index * vocabSize);
      row += 1;
    });
    return { logits, numRows: steps.length, vocabSize, aborted };
  }

  length(sequence: number): number {
    checkSequenceIndex(sequence, this.maxSequences);
    return this.sequences[sequence]!.length;
  }

  reset(sequence: number): void {
    if (this.disposed) throw new DisposedError('reset');
    checkSequenceIndex(sequence, this.maxSequences);
    const state = this.sequences[sequence]!;
    if (state.busy) throw new ExecutorBusyError(`cannot reset sequence ${sequence} while a call on it runs`);
    // The native side starts the sequence afresh on the next forward at position 0.
    this.sequences[sequence] = this.freshSequence();
  }

  async fillSyntheticCache(sequence: number, length: number, seed = 0): Promise<void> {
    if (this.disposed) throw new DisposedError('fillSyntheticCache');
    checkSequenceIndex(sequence, this.maxSequences);
    if (!Number.isSafeInteger(length) || length < 0 || length > this.maxTokens) {
      throw new CapacityError(
        `cannot fill ${length} tokens: the executor holds at most ${this.maxTokens} per sequence`,
      );
    }
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be an integer >= 0, got ${seed}`);
    const state = this.sequences[sequence]!;
    if (state.busy) throw new ExecutorBusyError(`sequence ${sequence} already has a call running`);
    state.busy = true;
    try {
      await this.native.fillSyntheticCache(sequence, length, seed % 2 ** 31);
    } catch (error) {
      if (this.disposed) throw new DisposedError('fillSyntheticCache');
      throw new CudaRuntimeError(`fillSyntheticCache of ${length} tokens on sequence ${sequence}`, error);
    } finally {
      state.busy = false;
    }
    state.length = length;
    state.ropeLength = this.config.maxPositionEmbeddings;
  }

  memory(): MemoryReport {
    if (this.disposed) throw new DisposedError('memory');
    const native = this.native.memory();
    const { headDim } = this.config;
    const window = this.policy.sinkSize + this.policy.recentSize;
    let retrievalPerToken = 0;
    let streamingPerToken = 0;
    for (const split of this.policy.layers) {
      retrievalPerToken += 2 * split.retrievalKvHeads.length * headDim * CACHE_ELEMENT_BYTES;
      streamingPerToken += 2 * split.streamingKvHeads.length * headDim * CACHE_ELEMENT_BYTES;
    }
    let retrievalUsed = 0;
    let streamingUsed = 0;
    for (const state of this.sequences) {
      retrievalUsed += state.length * retrievalPerToken;
      streamingUsed += Math.min(state.length, window) * streamingPerToken;
    }
    return {
      kvBytesAllocated: native.retrievalCacheBytes + native.streamingCacheBytes,
      kvBytesUsed: retrievalUsed + streamingUsed,
      retrievalKvBytesUsed: retrievalUsed,
      streamingKvBytesUsed: streamingUsed,
      weightBytes: native.weightBytes,
    };
  }

  /** Device bytes of scratch buffers (activations for the largest call so far, logits, workspaces). */
  scratchBytes(): number {
    if (this.disposed) throw new DisposedError('scratchBytes');
    return this.native.memory().scratchBytes;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.native.dispose();
  }
}
