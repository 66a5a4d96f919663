// Continuous batching: several generations share one executor, each awaiting its own decode steps
// one token at a time. This wrapper collects the steps that are waiting while the executor is busy
// (and those posted in the same turn of the event loop) and runs them as one `forwardBatch` pass,
// so the weights are read once per step of all the sequences instead of once per sequence. The
// engine and its callers keep calling `forward`; nothing else changes for them.
import type {
  DecodeBatchResult,
  DecodeStep,
  Executor,
  ForwardOptions,
  ForwardResult,
  MemoryReport,
} from '../backend/backend.js';
import { AbortedError, DisposedError } from '../backend/backend-errors.js';
import { checkForwardRequest } from '../backend/validate-forward.js';
import type { ModelConfig } from '../model/model-types.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';

/** An executor that has a batched decode pass. */
export type BatchCapableExecutor = Executor & {
  forwardBatch(
    steps: readonly DecodeStep[],
    options?: { readonly signal?: AbortSignal },
  ): Promise<DecodeBatchResult>;
};

/** Options of {@link BatchingExecutor}. */
export interface BatchingOptions {
  /** Most decode steps in one pass (default: all waiting, at most one per sequence). */
  readonly maxBatch?: number;
}

/** Counters of the batches run so far (for metrics and benchmarks). */
export interface BatchingStats {
  /** `forwardBatch` passes (batches of two or more steps). */
  readonly batches: number;
  /** Decode steps that ran in those passes. */
  readonly batchedSteps: number;
  /** Decode steps that ran alone (`forward`), because no other step was waiting. */
  readonly singleSteps: number;
}

/** A decode step waiting for its pass. */
interface Pending {
  readonly sequence: number;
  readonly token: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: ForwardResult) => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
}

/** True when `executor` can run batched decode steps. */
export function canBatchDecode(executor: Executor): executor is BatchCapableExecutor {
  return typeof executor.forwardBatch === 'function';
}

/**
 * Wraps an executor so that one-token `forward` calls on different sequences (decode steps) run
 * together through `forwardBatch`. Multi-token calls (prefill chunks) go straight through. A step
 * whose sequence already has a step waiting waits for the next pass. Results are the same as
 * `forward`'s, within the backend's float rounding of a batched pass (the conformance suite checks
 * it). A step aborted while it waits is rejected at once; one aborted during its pass is rejected
 * when the pass ends, and its sequence does not advance. `forwardSample` is not offered: batched
 * steps return logits and the engine samples on the host.
 */
export class BatchingExecutor implements Executor {
  readonly #inner: BatchCapableExecutor;
  readonly #maxBatch: number;
  #waiting: Pending[] = [];
  #running = false;
  #scheduled = false;
  #disposed = false;
  #batches = 0;
  #batchedSteps = 0;
  #singleSteps = 0;

  /** The wrapped executor's, when it has one. */
  readonly fillSyntheticCache?: (sequence: number, length: number, seed?: number) => Promise<void>;

  constructor(inner: BatchCapableExecutor, options: BatchingOptions = {}) {
    this.#inner = inner;
    this.#maxBatch = options.maxBatch ?? Number.POSITIVE_INFINITY;
    if (inner.fillSyntheticCache !== undefined)
      this.fillSyntheticCache = inner.fillSyntheticCache.bind(inner);
  }

  get backendName(): string {
    return this.#inner.backendName;
  }

  get config(): ModelConfig {
    return this.#inner.config;
  }

  get policy(): KvCachePolicy {
    return this.#inner.policy;
  }

  get maxTokens(): number {
    return this.#inner.maxTokens;
  }

  /** Batches and steps run so far. */
  get stats(): BatchingStats {
    return { batches: this.#batches, batchedSteps: this.#batchedSteps, singleSteps: this.#singleSteps };
  }

  forward(sequence: number, tokens: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    if (this.#disposed) return Promise.reject(new DisposedError('forward'));
    if (tokens.length !== 1 || options.allLogits === true)
      return this.#inner.forward(sequence, tokens, options);
    const { signal } = options;
    if (signal?.aborted)
      return Promise.reject(new AbortedError(`forward on sequence ${sequence}`, signal.reason));
    return new Promise<ForwardResult>((resolve, reject) => {
      const step: Pending = {
        sequence,
        token: tokens[0]!,
        signal,
        resolve,
        reject,
        onAbort: () => {
          // Still waiting: leave the queue now. In a pass: the pass reports it (see #run).
          const index = this.#waiting.indexOf(step);
          if (index < 0) return;
          this.#waiting.splice(index, 1);
          reject(new AbortedError(`forward on sequence ${sequence}`, signal?.reason));
        },
      };
      signal?.addEventListener('abort', step.onAbort, { once: true });
      this.#waiting.push(step);
      this.#schedule();
    });
  }

  length(sequence: number): number {
    return this.#inner.length(sequence);
  }

  reset(sequence: number): void {
    this.#inner.reset(sequence);
  }

  memory(): MemoryReport {
    return this.#inner.memory();
  }

  forwardBatch(
    steps: readonly DecodeStep[],
    options?: { readonly signal?: AbortSignal },
  ): Promise<DecodeBatchResult> {
    return this.#inner.forwardBatch(steps, options);
  }

  /** Rejects the steps still waiting with `DisposedError`, then disposes the wrapped executor. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const step of waiting) this.#settle(step, () => step.reject(new DisposedError('forward')));
    await this.#inner.dispose();
  }

  /** Runs the next pass once the current one is done and this turn of the event loop has posted its steps. */
  #schedule(): void {
    if (this.#running || this.#scheduled || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (this.#running || this.#disposed) return;
    const batch: Pending[] = [];
    const sequences = new Set<number>();
    const later: Pending[] = [];
    const limits = {
      maxSequences: Number.MAX_SAFE_INTEGER,
      maxTokens: this.maxTokens,
      vocabSize: this.config.vocabSize,
    };
    for (const step of this.#waiting) {
      if (batch.length >= this.#maxBatch || sequences.has(step.sequence)) {
        later.push(step);
        continue;
      }
      // A step that cannot run fails alone, instead of failing the whole pass.
      try {
        checkForwardRequest(limits, step.sequence, [step.token], this.#inner.length(step.sequence));
      } catch (error) {
        this.#settle(step, () => step.reject(error));
        continue;
      }
      sequences.add(step.sequence);
      batch.push(step);
    }
    this.#waiting = later;
    if (batch.length === 0) return this.#schedule();
    this.#running = true;
    try {
      if (batch.length === 1) {
        const step = batch[0]!;
        this.#singleSteps += 1;
        const result = this.#inner.forward(step.sequence, [step.token], { signal: step.signal });
        await result.then(
          (value) => this.#settle(step, () => step.resolve(value)),
          (error: unknown) => this.#settle(step, () => step.reject(error)),
        );
        return;
      }
      this.#batches += 1;
      this.#batchedSteps += batch.length;
      let result: DecodeBatchResult;
      try {
        result = await this.#inner.forwardBatch(
          batch.map((step) => ({ sequence: step.sequence, token: step.token, signal: step.signal })),
        );
      } catch (error) {
        for (const step of batch) this.#settle(step, () => step.reject(error));
        return;
      }
      const { vocabSize } = result;
      batch.forEach((step, row) => {
        if (result.aborted[row]) {
          this.#settle(step, () =>
            step.reject(new AbortedError(`forward on sequence ${step.sequence}`, step.signal?.reason)),
          );
          return;
        }
        const logits = result.logits.slice(row * vocabSize, (row + 1) * vocabSize);
        this.#settle(step, () => step.resolve({ logits, numRows: 1, vocabSize }));
      });
    } finally {
      this.#running = false;
      this.#schedule();
    }
  }

  #settle(step: Pending, settle: () => void): void {
    step.signal?.removeEventListener('abort', step.onAbort);
    settle();
  }
}
