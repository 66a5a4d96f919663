// The cpu backend's executor as the caller sees it: validates every call before it reaches the
// worker process, serialises forward passes, keeps sequence lengths in sync with the worker's caches,
// and turns aborts, disposal and worker deaths (a native crash included) into typed rejections
// instead of hung promises or a dead caller.
import type { ChildProcess } from 'node:child_process';
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
import type { ModelConfig } from '../model/model-types.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { type CacheLayout, sequenceAllocatedBytes, sequenceUsedBytes } from './cache-layout.js';
import { CpuWorkerError } from './cpu-errors.js';
import type { CpuWorkerCrashMode, CpuWorkerInit, CpuWorkerReply, CpuWorkerRequest } from './cpu-protocol.js';
import type { DecoderGraph } from './decoder-graph.js';
import { launchCpuWorker } from './worker-launcher.js';

/** Everything a cpu executor starts from; model, policy and options already validated. */
export interface CpuExecutorInit {
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  readonly maxSequences: number;
  /** onnxruntime intra-op threads. */
  readonly threads: number;
  /** The built graph; the executor owns it and removes its files on dispose or failure. */
  readonly graph: DecoderGraph;
  /** Folder holding the graph, removed by the worker if the caller dies without disposing. */
  readonly graphDirectory?: string;
  /** Bytes of float32 weights the session holds. */
  readonly weightBytes: number;
}

/** A promise with its settle functions; settling twice is a no-op. */
interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The worker's answers to a forward or forwardBatch call. */
type CallReply = Extract<CpuWorkerReply, { type: 'result' | 'batchResult' | 'cancelled' }>;

/** The forward (or forwardBatch) call the worker is working on. */
interface InFlight {
  readonly id: number;
  /** The sequences it changes. */
  readonly sequences: readonly number[];
  readonly what: string;
  /** Rejects what the caller awaits (at once on abort, dispose or failure). */
  readonly reject: (error: unknown) => void;
  /** Takes the worker's answer (the sequences are already marked free). */
  readonly onReply: (reply: CallReply) => void;
  /** Resolved once the worker has finished with the call (or can no longer answer). */
  readonly settled: Deferred<void>;
  aborted: boolean;
}

/** Per-sequence state mirrored from the worker. */
interface SequenceState {
  length: number;
  /** Retrieval cache capacity in tokens. */
  capacity: number;
}

/** Signals that mean the worker died inside native code. */
const NATIVE_CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGABRT', 'SIGTRAP']);

/** How long a disposed idle worker may take to exit before it is killed. */
const SHUTDOWN_GRACE_MS = 5000;

/** Executor of the cpu backend: a proxy to a worker process that runs onnxruntime. */
export class CpuExecutor implements Executor {
  readonly backendName = 'cpu';
  readonly config: ModelConfig;
  readonly policy: KvCachePolicy;
  readonly maxTokens: number;
  private readonly maxSequences: number;
  private readonly layout: CacheLayout;
  private readonly weightBytes: number;
  private readonly worker: ChildProcess;
  private readonly graph: DecoderGraph;
  private readonly init: CpuWorkerInit;
  private readonly sequences: SequenceState[];
  private readonly running = new Set<number>();
  private readonly ready = deferred<void>();
  private queue: Promise<void> = Promise.resolve();
  private current: InFlight | undefined;
  private nextId = 1;
  /** Pending `fill` requests by id. */
  private readonly fills = new Map<number, Deferred<{ length: number; capacity: number }>>();
  /** Bytes of the worker's batch-layout copies of the caches (batched decode). */
  private batchBytes = 0;
  private disposed = false;
  private disposing: Promise<void> | undefined;
  private failure: CpuWorkerError | undefined;
  private graphRemoval: Promise<void> | undefined;
  private exited = false;

  private constructor(init: CpuExecutorInit, worker: ChildProcess, workerInit: CpuWorkerInit) {
    this.config = init.config;
    this.policy = init.policy;
    this.maxTokens = init.maxTokens;
    this.maxSequences = init.maxSequences;
    this.weightBytes = init.weightBytes;
    this.graph = init.graph;
    this.worker = worker;
    this.init = workerInit;
    this.layout = {
      headDim: init.config.headDim,
      retrievalHeads: init.graph.layers.map((layer) => layer.retrieval),
      streamingHeads: init.graph.layers.map((layer) => layer.streaming),
      window: init.policy.sinkSize + init.policy.recentSize,
      maxTokens: init.maxTokens,
    };
    this.sequences = Array.from({ length: init.maxSequences }, () => ({ length: 0, capacity: 0 }));
    // Observed by start(); after startup a late rejection must not surface as unhandled.
    this.ready.promise.catch(() => undefined);
    worker.on('message', (reply: CpuWorkerReply) => this.onReply(reply));
    worker.on('error', (error: Error) =>
      this.fail(new CpuWorkerError(`the cpu worker process failed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      this.exited = true;
      if (!this.disposed) this.fail(new CpuWorkerError(exitMessage(code, signal)));
    });
  }

  /**
   * Starts the worker process and waits until its onnxruntime session is ready. On failure the
   * worker is stopped and the graph's files are removed before the {@link CpuWorkerError} is thrown.
   */
  static async start(init: CpuExecutorInit): Promise<CpuExecutor> {
    const workerInit: CpuWorkerInit = {
      modelPath: init.graph.modelPath,
      layers: init.graph.layers,
      config: init.config,
      sinkSize: init.policy.sinkSize,
      recentSize: init.policy.recentSize,
      maxTokens: init.maxTokens,
      maxSequences: init.maxSequences,
      threads: init.threads,
      ...(init.graphDirectory !== undefined ? { orphanCleanup: init.graphDirectory } : {}),
    };
    let worker: ChildProcess;
    try {
      worker = await launchCpuWorker();
    } catch (error) {
      await init.graph.dispose();
      throw error;
    }
    const executor = new CpuExecutor(init, worker, workerInit);
    try {
      await executor.ready.promise;
    } catch (error) {
      await executor.dispose();
      throw error;
    }
    executor.unrefWorker();
    return executor;
  }

  forward(sequence: number, tokens: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    if (this.disposed) return Promise.reject(new DisposedError('forward'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    try {
      // Everything but capacity can be checked now; capacity depends on the calls queued before.
      checkForwardRequest(this.limits(), sequence, tokens, 0);
    } catch (error) {
      return Promise.reject(error);
    }
    const ids = [...tokens];
    const user = deferred<ForwardResult>();
    this.queue = this.queue.then(() => this.execute(sequence, ids, options, user));
    return user.promise;
  }

  /**
   * One decode step on each of several sequences in one onnxruntime run: the weights are read once
   * for the batch. See {@link Executor.forwardBatch}.
   */
  forwardBatch(
    steps: readonly DecodeStep[],
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<DecodeBatchResult> {
    if (this.disposed) return Promise.reject(new DisposedError('forwardBatch'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    try {
      checkDecodeBatch(this.limits(), steps);
    } catch (error) {
      return Promise.reject(error);
    }
    const copy = steps.map((step) => ({ ...step }));
    const user = deferred<DecodeBatchResult>();
    this.queue = this.queue.then(() => this.executeBatch(copy, options.signal, user));
    return user.promise;
  }

  length(sequence: number): number {
    this.assertLive('length');
    checkSequenceIndex(sequence, this.maxSequences);
    return this.sequences[sequence]!.length;
  }

  reset(sequence: number): void {
    this.assertLive('reset');
    if (this.failure !== undefined) throw this.failure;
    checkSequenceIndex(sequence, this.maxSequences);
    if (this.running.has(sequence)) {
      throw new ExecutorBusyError(`reset of sequence ${sequence} while a forward pass on it is running`);
    }
    this.sequences[sequence] = { length: 0, capacity: 0 };
    // The worker drops its batch-layout copies when no sequence holds anything.
    if (this.sequences.every((state) => state.length === 0 && state.capacity === 0)) this.batchBytes = 0;
    this.post({ type: 'reset', sequence });
  }

  fillSyntheticCache(sequence: number, length: number, seed = 0): Promise<void> {
    if (this.disposed) return Promise.reject(new DisposedError('fillSyntheticCache'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    try {
      checkSequenceIndex(sequence, this.maxSequences);
      if (!Number.isSafeInteger(length) || length < 0 || length > this.maxTokens) {
        throw new CapacityError(
          `cannot fill ${length} tokens: the executor holds at most ${this.maxTokens} per sequence`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const done = deferred<void>();
    this.queue = this.queue.then(async () => {
      if (this.disposed) return done.reject(new DisposedError('fillSyntheticCache'));
      if (this.failure !== undefined) return done.reject(this.failure);
      const id = this.nextId++;
      const filled = deferred<{ length: number; capacity: number }>();
      this.fills.set(id, filled);
      this.refWorker();
      try {
        this.post({ type: 'fill', id, sequence, length, seed });
        const state = await filled.promise;
        this.sequences[sequence] = state;
        done.resolve();
      } catch (error) {
        done.reject(error);
      } finally {
        this.fills.delete(id);
        if (!this.disposed && this.failure === undefined) this.unrefWorker();
      }
    });
    return done.promise;
  }

  memory(): MemoryReport {
    this.assertLive('memory');
    let allocated = 0;
    let retrieval = 0;
    let streaming = 0;
    for (const state of this.sequences) {
      if (state.capacity === 0 && state.length === 0) continue;
      allocated += sequenceAllocatedBytes(this.layout, state.capacity);
      const [r, s] = sequenceUsedBytes(this.layout, state.length);
      retrieval += r;
      streaming += s;
    }
    return {
      // The batch-layout copies stay allocated between batched passes (see BatchPasts).
      kvBytesAllocated: allocated + this.batchBytes,
      kvBytesUsed: retrieval + streaming,
      retrievalKvBytesUsed: retrieval,
      streamingKvBytesUsed: streaming,
      weightBytes: this.weightBytes,
    };
  }

  /**
   * Rejects the running and queued calls with DisposedError, stops the worker process (at once when
   * it is busy: a process can be killed mid-run, unlike a thread) and removes the graph's files.
   */
  dispose(): Promise<void> {
    this.disposing ??= this.shutdown();
    return this.disposing;
  }

  /**
   * Test hook: makes the worker fail as a crash would (`throw`: an uncaught exception; `exit`: the
   * worker exits with code 3; `signal`: it dies of SIGSEGV). Not part of the Executor contract.
   * @internal
   */
  crashWorkerForTesting(mode: CpuWorkerCrashMode): void {
    this.post({ type: 'crash', mode });
  }

  /**
   * Test hook: the path of the ONNX graph this executor runs (removed on dispose).
   * @internal
   */
  get graphPathForTesting(): string {
    return this.graph.modelPath;
  }

  private async shutdown(): Promise<void> {
    this.disposed = true;
    const current = this.current;
    if (current !== undefined) {
      for (const sequence of current.sequences) this.running.delete(sequence);
      current.reject(new DisposedError(current.what));
      current.settled.resolve();
    }
    this.ready.reject(new DisposedError('load'));
    for (const fill of this.fills.values()) fill.reject(new DisposedError('fillSyntheticCache'));
    if (!this.exited) {
      this.refWorker();
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      if (current !== undefined || this.fills.size > 0) {
        // Busy: its results are unwanted, and a process can be killed mid-run.
        this.worker.kill('SIGKILL');
      } else {
        this.post({ type: 'shutdown' });
        const grace = setTimeout(() => this.worker.kill('SIGKILL'), SHUTDOWN_GRACE_MS);
        grace.unref();
      }
      await exited;
    }
    await this.queue;
    await this.removeGraph();
  }

  /** Lets the caller's process exit while this executor is idle (the worker exits with it). */
  private unrefWorker(): void {
    this.worker.unref();
    this.worker.channel?.unref();
  }

  private refWorker(): void {
    this.worker.ref();
    this.worker.channel?.ref();
  }

  private limits() {
    return { maxSequences: this.maxSequences, maxTokens: this.maxTokens, vocabSize: this.config.vocabSize };
  }

  private assertLive(what: string): void {
    if (this.disposed) throw new DisposedError(what);
  }

  private post(request: CpuWorkerRequest): void {
    // A worker that is gone answers through its exit event; a failed send must not throw here.
    if (this.worker.connected) this.worker.send(request, (error) => error && undefined);
  }

  /** Runs one queued call to completion; never rejects (the outcome goes to `user`). */
  private async execute(
    sequence: number,
    tokens: number[],
    options: ForwardOptions,
    user: Deferred<ForwardResult>,
  ): Promise<void> {
    const what = `forward on sequence ${sequence}`;
    if (this.disposed) return user.reject(new DisposedError(what));
    if (this.failure !== undefined) return user.reject(this.failure);
    const { signal } = options;
    if (signal?.aborted) return user.reject(new AbortedError(what, signal.reason));
    try {
      checkForwardRequest(this.limits(), sequence, tokens, this.sequences[sequence]!.length);
    } catch (error) {
      return user.reject(error);
    }
    const id = this.nextId++;
    const call: InFlight = {
      id,
      sequences: [sequence],
      what,
      reject: user.reject,
      settled: deferred<void>(),
      aborted: false,
      onReply: (reply) => {
        const state = this.sequences[sequence]!;
        if (reply.type === 'cancelled') {
          state.capacity = reply.capacity;
          if (!call.aborted) user.reject(new AbortedError(what, undefined));
        } else if (reply.type === 'result') {
          state.capacity = reply.capacity;
          if (call.aborted) {
            // The abort came after the worker's last check: roll the commit back.
            this.post({ type: 'undo', sequence, id });
          } else {
            state.length = reply.length;
            user.resolve({ logits: reply.logits, numRows: reply.numRows, vocabSize: this.config.vocabSize });
          }
        }
      },
    };
    await this.run(call, signal, {
      type: 'forward',
      id,
      sequence,
      tokens,
      allLogits: options.allLogits === true,
    });
  }

  /** Runs one queued forwardBatch call to completion; never rejects (the outcome goes to `user`). */
  private async executeBatch(
    steps: readonly DecodeStep[],
    signal: AbortSignal | undefined,
    user: Deferred<DecodeBatchResult>,
  ): Promise<void> {
    const what = 'forwardBatch';
    if (this.disposed) return user.reject(new DisposedError(what));
    if (this.failure !== undefined) return user.reject(this.failure);
    if (signal?.aborted) return user.reject(new AbortedError(what, signal.reason));
    try {
      checkDecodeBatch(this.limits(), steps, (sequence) => this.sequences[sequence]!.length);
    } catch (error) {
      return user.reject(error);
    }
    const { vocabSize } = this.config;
    const aborted = steps.map((step) => step.signal?.aborted === true);
    const sent = steps.flatMap((step, index) => (aborted[index] ? [] : [{ step, index }]));
    const logits = new Float32Array(steps.length * vocabSize);
    if (sent.length === 0) return user.resolve({ logits, numRows: steps.length, vocabSize, aborted });
    const id = this.nextId++;
    const sequences = sent.map(({ step }) => step.sequence);
    const call: InFlight = {
      id,
      sequences,
      what,
      reject: user.reject,
      settled: deferred<void>(),
      aborted: false,
      onReply: (reply) => {
        if (reply.type === 'cancelled') {
          reply.capacities?.forEach((capacity, j) => {
            this.sequences[sequences[j]!]!.capacity = capacity;
          });
          if (!call.aborted) user.reject(new AbortedError(what, undefined));
          return;
        }
        if (reply.type !== 'batchResult') return;
        this.batchBytes = reply.batchBytes;
        sent.forEach(({ step, index }, j) => {
          const state = this.sequences[step.sequence]!;
          state.capacity = reply.capacities[j]!;
          if (call.aborted || step.signal?.aborted) {
            // Aborted after the worker's last check: roll this sequence's commit back.
            this.post({ type: 'undo', sequence: step.sequence, id });
            aborted[index] = true;
          } else {
            state.length = reply.lengths[j]!;
            logits.set(reply.logits.subarray(j * vocabSize, (j + 1) * vocabSize), index * vocabSize);
          }
        });
        if (!call.aborted) user.resolve({ logits, numRows: steps.length, vocabSize, aborted });
      },
    };
    await this.run(call, signal, {
      type: 'forwardBatch',
      id,
      sequences,
      tokens: sent.map(({ step }) => step.token),
    });
  }

  /** Sends `request` for `call` and waits until the worker is done with it. */
  private async run(
    call: InFlight,
    signal: AbortSignal | undefined,
    request: Extract<CpuWorkerRequest, { type: 'forward' | 'forwardBatch' }>,
  ): Promise<void> {
    const onAbort = (): void => {
      if (this.current !== call || call.aborted) return;
      // Reject now; the worker sees the cancel before committing, or we undo its commit (onReply).
      call.aborted = true;
      this.post({ type: 'cancel', id: call.id });
      for (const sequence of call.sequences) this.running.delete(sequence);
      call.reject(new AbortedError(call.what, signal?.reason));
    };
    this.current = call;
    for (const sequence of call.sequences) this.running.add(sequence);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.refWorker();
    try {
      this.post(request);
      await call.settled.promise;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const sequence of call.sequences) this.running.delete(sequence);
      this.current = undefined;
      if (!this.disposed && this.failure === undefined) this.unrefWorker();
    }
  }

  private onReply(reply: CpuWorkerReply): void {
    switch (reply.type) {
      case 'alive':
        this.post({ type: 'init', init: this.init });
        return;
      case 'crashed':
        this.fail(
          new CpuWorkerError(
            `the cpu worker crashed: ${reply.message}`,
            reply.stack ? { cause: reply.stack } : undefined,
          ),
        );
        return;
      case 'ready':
        this.ready.resolve();
        return;
      case 'failed':
        this.fail(
          new CpuWorkerError(
            `the cpu worker failed: ${reply.message}`,
            reply.stack ? { cause: reply.stack } : undefined,
          ),
        );
        return;
      case 'filled':
        this.fills.get(reply.id)?.resolve({ length: reply.length, capacity: reply.capacity });
        return;
      case 'result':
      case 'batchResult':
      case 'cancelled': {
        const call = this.current;
        if (call === undefined || call.id !== reply.id) return;
        // The sequences are free again before the caller hears back (it may reset them at once).
        for (const sequence of call.sequences) this.running.delete(sequence);
        call.onReply(reply);
        call.settled.resolve();
        return;
      }
    }
  }

  /** The worker can no longer answer: reject everything now and later with `error`. */
  private fail(error: CpuWorkerError): void {
    if (this.disposed || this.failure !== undefined) return;
    this.failure = error;
    this.ready.reject(error);
    for (const fill of this.fills.values()) fill.reject(error);
    const current = this.current;
    if (current !== undefined) {
      for (const sequence of current.sequences) this.running.delete(sequence);
      current.reject(error);
      current.settled.resolve();
    }
    if (!this.exited) this.worker.kill('SIGKILL');
    void this.removeGraph();
  }

  private removeGraph(): Promise<void> {
    this.graphRemoval ??= this.graph.dispose().catch(() => undefined);
    return this.graphRemoval;
  }
}

/** Why the worker process ended, in words a user can act on. */
function exitMessage(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) {
    const native = NATIVE_CRASH_SIGNALS.has(signal) ? ' (a native crash inside onnxruntime)' : '';
    return `the cpu worker process was killed by ${signal}${native}; this executor cannot be used any more, load the model again`;
  }
  return `the cpu worker process exited unexpectedly with code ${code}`;
}
