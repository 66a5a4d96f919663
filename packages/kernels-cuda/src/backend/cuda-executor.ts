// The cuda backend's executor: validates every call before it reaches the GPU, keeps each sequence's
// length and RoPE state on the JS side (the native model checks it agrees), computes RoPE cos/sin with
// core's code, and turns native failures into typed errors. Calls never block the event loop.
import {
  AbortedError,
  CapacityError,
  checkForwardRequest,
  checkSequenceIndex,
  DisposedError,
  dynamicRopeLength,
  type Executor,
  ExecutorBusyError,
  type ForwardOptions,
  type ForwardResult,
  type KvCachePolicy,
  type MemoryReport,
  type ModelConfig,
  RopeAngleTable,
} from '@duo-attn/core';
import type { NativeModel } from '../binding.js';
import { CudaRuntimeError } from '../errors.js';

/** Everything an executor starts from; the native model already holds its weights. */
export interface CudaExecutorInit {
  readonly native: NativeModel;
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  readonly maxSequences: number;
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

  constructor(init: CudaExecutorInit) {
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
    if (this.disposed) throw new DisposedError('forward');
    if (options.signal?.aborted) throw new AbortedError('forward', options.signal.reason);
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
    const allLogits = options.allLogits ?? false;
    state.busy = true;
    let logits: Float32Array;
    try {
      // Once the GPU has the call it runs to the end: an abort after this point is too late, and
      // the call resolves (undoing it would need the overwritten streaming-cache slots back).
      logits = await this.native.forward(sequence, start, Int32Array.from(tokens), cos, sin, allLogits);
    } catch (error) {
      if (this.disposed) throw new DisposedError('forward');
      throw new CudaRuntimeError(
        `forward of ${rows} tokens on sequence ${sequence} at position ${start}`,
        error,
      );
    } finally {
      state.busy = false;
    }
    if (this.disposed) throw new DisposedError('forward');
    state.length = start + rows;
    state.ropeLength = ropeLength;
    return { logits, numRows: allLogits ? rows : 1, vocabSize: config.vocabSize };
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
