// Admission by KV-cache memory: a request reserves the KV bytes its prompt plus max_tokens will
// hold (the memory planner's numbers for the served policy) and one of the model's sequences.
// What can never fit is refused before any work; what cannot fit now waits in a bounded FIFO
// queue; a full queue answers 429 with a Retry-After estimated from recent request durations.
import { OpenAiHttpError } from './openai-error.js';

/** Limits of an {@link Admission}. */
export interface AdmissionLimits {
  /** Requests generating at once (the model's sequences). */
  readonly sequences: number;
  /** KV-cache bytes all running requests may hold together. */
  readonly kvBudgetBytes: number;
  /** Requests that may wait for room; more are refused with 429. */
  readonly maxQueue: number;
}

/** A granted admission; `release` returns its sequence and bytes (idempotent). */
export interface AdmissionTicket {
  readonly kvBytes: number;
  release(): void;
}

interface Waiter {
  readonly kvBytes: number;
  readonly grant: (ticket: AdmissionTicket) => void;
}

/** Grants sequences and KV bytes to requests in arrival order. */
export class Admission {
  #running = 0;
  #reservedBytes = 0;
  readonly #queue: Waiter[] = [];
  /** Mean seconds a request held its admission (exponentially weighted), for Retry-After. */
  #meanSeconds = 1;

  constructor(readonly limits: AdmissionLimits) {}

  get running(): number {
    return this.#running;
  }
  get queued(): number {
    return this.#queue.length;
  }
  /** KV bytes reserved by running requests. */
  get reservedBytes(): number {
    return this.#reservedBytes;
  }

  /**
   * Waits for a sequence and `kvBytes` of KV budget. Rejects at once with 413 when `kvBytes`
   * exceeds the whole budget, with 429 when the queue is full, and with `signal`'s reason when it
   * aborts while waiting (the request then leaves the queue).
   */
  acquire(kvBytes: number, signal: AbortSignal): Promise<AdmissionTicket> {
    signal.throwIfAborted();
    if (kvBytes > this.limits.kvBudgetBytes) {
      return Promise.reject(
        new OpenAiHttpError(
          413,
          'invalid_request_error',
          `the request needs ${kvBytes} bytes of KV cache (prompt plus max_tokens), more than the server's whole budget of ${this.limits.kvBudgetBytes}`,
          'max_tokens',
          'kv_budget_exceeded',
        ),
      );
    }
    if (this.#queue.length === 0 && this.#fits(kvBytes)) return Promise.resolve(this.#grant(kvBytes));
    if (this.#queue.length >= this.limits.maxQueue) {
      const retryAfter = Math.max(1, Math.ceil(this.#meanSeconds));
      return Promise.reject(
        new OpenAiHttpError(
          429,
          'rate_limit_error',
          `the server is busy: ${this.#running} requests running and ${this.#queue.length} waiting (the queue's limit); retry in about ${retryAfter} s`,
          null,
          'queue_full',
          { 'retry-after': String(retryAfter) },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        kvBytes,
        grant: (ticket) => {
          signal.removeEventListener('abort', onAbort);
          resolve(ticket);
        },
      };
      const onAbort = () => {
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        // A waiter that leaves may let the ones behind it in.
        this.#drain();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #fits(kvBytes: number): boolean {
    return (
      this.#running < this.limits.sequences && this.#reservedBytes + kvBytes <= this.limits.kvBudgetBytes
    );
  }

  #grant(kvBytes: number): AdmissionTicket {
    this.#running++;
    this.#reservedBytes += kvBytes;
    const start = performance.now();
    let released = false;
    return {
      kvBytes,
      release: () => {
        if (released) return;
        released = true;
        this.#running--;
        this.#reservedBytes -= kvBytes;
        this.#meanSeconds = 0.8 * this.#meanSeconds + 0.2 * ((performance.now() - start) / 1000);
        this.#drain();
      },
    };
  }

  /** Admits waiters from the head of the queue while they fit (strict arrival order). */
  #drain(): void {
    while (this.#queue.length > 0 && this.#fits(this.#queue[0]!.kvBytes)) {
      const waiter = this.#queue.shift()!;
      waiter.grant(this.#grant(waiter.kvBytes));
    }
  }
}
