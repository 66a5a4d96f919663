// A generation as an async iterable of tokens plus a promise of its result. Iteration drives the
// generation (pull-based: a slow consumer slows it down); breaking out of the loop stops it as an
// abort would, and `result` still resolves with what was generated.
import type { GeneratedToken, GenerateResult } from '@duo-attn/core';
import { StreamReusedError } from './errors.js';

/** Starts a generation that stops promptly when `stop` is aborted. */
export type GenerationSource = (
  stop: AbortSignal,
) => AsyncGenerator<GeneratedToken, GenerateResult, undefined>;

/**
 * Tokens as they are generated (`for await (const token of stream)`; `token.text` is the new text),
 * and the {@link GenerateResult} once the loop ends. Nothing runs until iteration starts; iterate
 * once.
 */
export class GenerationStream implements AsyncIterable<GeneratedToken> {
  /** Resolves when iteration ends (finished, or broken out of: finish reason 'aborted'); rejects with the generation's error. */
  readonly result: Promise<GenerateResult>;
  #resolve!: (result: GenerateResult) => void;
  #reject!: (error: unknown) => void;
  #started = false;

  constructor(private readonly source: GenerationSource) {
    this.result = new Promise<GenerateResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The error also reaches the loop; a caller who never reads `result` must not see it unhandled.
    this.result.catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GeneratedToken, void, undefined> {
    if (this.#started) throw new StreamReusedError();
    this.#started = true;
    const stop = new AbortController();
    let iterator: AsyncGenerator<GeneratedToken, GenerateResult, undefined> | undefined;
    let finished = false;
    try {
      iterator = this.source(stop.signal);
      for (;;) {
        const step = await iterator.next();
        if (step.done) {
          finished = true;
          this.#resolve(step.value);
          return;
        }
        yield step.value;
      }
    } catch (error) {
      finished = true;
      this.#reject(error);
      throw error;
    } finally {
      if (!finished && iterator !== undefined) {
        // The consumer left the loop: stop the generation and let it finish cleanly.
        stop.abort();
        try {
          for (;;) {
            const step = await iterator.next();
            if (step.done) {
              this.#resolve(step.value);
              break;
            }
          }
        } catch (error) {
          this.#reject(error);
        }
      }
    }
  }

  /** Runs the whole generation and returns its result (the tokens are not kept one by one). */
  async collect(): Promise<GenerateResult> {
    for await (const _ of this) {
      // drained
    }
    return this.result;
  }
}
