// Messages between the cpu executor (the caller's process) and its worker process. Kept in one place
// so both sides agree on every field; all values survive node's "advanced" (structured clone) IPC.
import type { ModelConfig } from '../model/model-types.js';

/** What the worker is started with (the `init` request, sent once it says it is `alive`). */
export interface CpuWorkerInit {
  /** Path of the .onnx graph written by `buildDecoderGraph`. */
  readonly modelPath: string;
  /** Per layer: retrieval / streaming KV heads (retrieval first after reordering). */
  readonly layers: readonly { readonly retrieval: number; readonly streaming: number }[];
  readonly config: ModelConfig;
  /** S: sink tokens a streaming head keeps. */
  readonly sinkSize: number;
  /** R: recent tokens a streaming head keeps. */
  readonly recentSize: number;
  readonly maxTokens: number;
  readonly maxSequences: number;
  /** onnxruntime intra-op threads. */
  readonly threads: number;
  /**
   * Folder the worker removes if its parent process dies without disposing the executor (the graph's
   * temporary files), so a killed caller leaves nothing behind.
   */
  readonly orphanCleanup?: string;
}

/** Caller → worker. */
export type CpuWorkerRequest =
  /** The first request: build the session. */
  | { readonly type: 'init'; readonly init: CpuWorkerInit }
  | {
      readonly type: 'forward';
      readonly id: number;
      readonly sequence: number;
      /** Token ids, already validated. */
      readonly tokens: readonly number[];
      readonly allLogits: boolean;
    }
  /**
   * One decode step on each of `sequences` (distinct, already validated) in one pass: token i is
   * appended to sequence i. Answered by `batchResult` (or `cancelled` when aborted before commit).
   */
  | {
      readonly type: 'forwardBatch';
      readonly id: number;
      readonly sequences: readonly number[];
      readonly tokens: readonly number[];
    }
  /**
   * The caller has aborted forward call `id`. Handled as soon as it arrives (not queued): the worker
   * checks it after `session.run` and before committing; if it arrives later, the caller undoes.
   */
  | { readonly type: 'cancel'; readonly id: number }
  | { readonly type: 'reset'; readonly sequence: number }
  /** Benchmarks: make `sequence` hold `length` tokens of seeded random K/V (see Executor.fillSyntheticCache). */
  | {
      readonly type: 'fill';
      readonly id: number;
      readonly sequence: number;
      readonly length: number;
      readonly seed: number;
    }
  /** Roll back forward call `id` on `sequence` if it is still the sequence's last change. */
  | { readonly type: 'undo'; readonly sequence: number; readonly id: number }
  /** Release the session and exit once the current request is done (never mid-`session.run`). */
  | { readonly type: 'shutdown' }
  /**
   * Test hook: make the worker fail (`throw`: uncaught exception; `exit`: process.exit(3);
   * `signal`: SIGSEGV, as a native crash inside onnxruntime would).
   */
  | { readonly type: 'crash'; readonly mode: CpuWorkerCrashMode };

/** How {@link CpuWorkerRequest} `crash` makes the worker fail. */
export type CpuWorkerCrashMode = 'throw' | 'exit' | 'signal';

/** Worker → caller. */
export type CpuWorkerReply =
  /** The worker process runs and listens; the caller sends `init`. */
  | { readonly type: 'alive' }
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      readonly id: number;
      /** `[numRows, vocabSize]` f32. */
      readonly logits: Float32Array;
      readonly numRows: number;
      /** Tokens the sequence holds after the call. */
      readonly length: number;
      /** Retrieval cache capacity of the sequence in tokens (after any growth). */
      readonly capacity: number;
    }
  /** A `forwardBatch` request is done: row i of `logits` and `lengths[i]` are sequence i's. */
  | {
      readonly type: 'batchResult';
      readonly id: number;
      /** `[sequences.length, vocabSize]` f32. */
      readonly logits: Float32Array;
      readonly lengths: readonly number[];
      readonly capacities: readonly number[];
      /** Bytes of the batch-layout copies of the caches the worker keeps for batched passes. */
      readonly batchBytes: number;
    }
  /** A `fill` request is done. */
  | { readonly type: 'filled'; readonly id: number; readonly length: number; readonly capacity: number }
  /** The call was aborted before it committed; the sequence is unchanged. */
  | {
      readonly type: 'cancelled';
      readonly id: number;
      readonly capacity: number;
      /** A cancelled `forwardBatch`: each sequence's retrieval capacity (growth is kept). */
      readonly capacities?: readonly number[];
    }
  /** Fatal: the worker cannot go on (message names the cause). */
  | { readonly type: 'failed'; readonly message: string; readonly stack?: string }
  /** Fatal: an uncaught exception in the worker; it exits right after sending this. */
  | { readonly type: 'crashed'; readonly message: string; readonly stack?: string };

/** Source-mode boot message (before `alive`): how to load the TypeScript worker. */
export interface CpuWorkerBoot {
  readonly type: 'boot';
  /** data: URL of the module loader that serves `sources`. */
  readonly loader: string;
  /** Transpiled modules by file URL. */
  readonly sources: Record<string, string>;
  /** File URL of cpu-worker.ts. */
  readonly entry: string;
}
