// Messages between the cpu executor (main thread) and its worker. Kept in one place so both sides
// agree on every field; all values are structured-cloneable.
import type { ModelConfig } from '../model/model-types.js';

/** What the worker is started with (its `workerData`). */
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
   * `[1]` i32 over a SharedArrayBuffer: the id of the forward call the main thread has aborted.
   * The worker reads it after `session.run` and before committing, so an aborted call changes nothing.
   */
  readonly cancel: SharedArrayBuffer;
}

/** Main thread → worker. */
export type CpuWorkerRequest =
  | {
      readonly type: 'forward';
      readonly id: number;
      readonly sequence: number;
      /** Token ids, already validated. */
      readonly tokens: readonly number[];
      readonly allLogits: boolean;
    }
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
  /** Test hook: make the worker fail (`throw`: uncaught exception; `exit`: process.exit(3)). */
  | { readonly type: 'crash'; readonly mode: 'throw' | 'exit' };

/** Worker → main thread. */
export type CpuWorkerReply =
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      readonly id: number;
      /** `[numRows, vocabSize]` f32, transferred. */
      readonly logits: Float32Array;
      readonly numRows: number;
      /** Tokens the sequence holds after the call. */
      readonly length: number;
      /** Retrieval cache capacity of the sequence in tokens (after any growth). */
      readonly capacity: number;
    }
  /** A `fill` request is done. */
  | { readonly type: 'filled'; readonly id: number; readonly length: number; readonly capacity: number }
  /** The call was aborted before it committed; the sequence is unchanged. */
  | { readonly type: 'cancelled'; readonly id: number; readonly capacity: number }
  /** Fatal: the worker cannot go on (message names the cause). */
  | { readonly type: 'failed'; readonly message: string; readonly stack?: string };
