// The executor's sequences, shared by every generation of a model. Each generation takes one
// sequence for its whole run (waiting, in arrival order, while all are busy); a sequence remembers
// which token ids its KV cache holds and for whom (a chat session), so that session's next turn can
// take the same sequence back and prefill only the tokens it adds.

/** What one executor sequence's cache holds, and for whom. */
export class SequenceSlot {
  #owner: object | undefined;
  #tokens: readonly number[] = [];

  /** @param sequence the executor's sequence index this slot stands for */
  constructor(readonly sequence: number) {}

  /** The chat session whose tokens the cache holds (undefined: nobody's, never reused). */
  get owner(): object | undefined {
    return this.#owner;
  }

  /**
   * How many leading ids of `prompt` the cache already holds for `owner`: all cached ids when they
   * are a strict prefix of `prompt` (at least one new id is left to feed), else 0 (reset). The
   * cache cannot be cut back to a shorter common prefix: streaming heads have already evicted the
   * tokens such a cut would need again.
   */
  reusableLength(owner: object | undefined, prompt: readonly number[], held: number): number {
    const cached = this.#tokens;
    if (owner === undefined || owner !== this.#owner || cached.length === 0) return 0;
    if (held !== cached.length || cached.length >= prompt.length) return 0;
    for (let i = 0; i < cached.length; i++) if (cached[i] !== prompt[i]) return 0;
    return cached.length;
  }

  /** Records that the cache holds `tokens` for `owner` (undefined: for nobody, never reused). */
  remember(owner: object | undefined, tokens: readonly number[]): void {
    this.#owner = owner;
    this.#tokens = owner === undefined ? [] : tokens;
  }

  /** Forgets what the cache holds (its content is unknown, e.g. after an error). */
  forget(): void {
    this.remember(undefined, []);
  }
}

/** A sequence taken from a {@link SequencePool}; `release` gives it back (call it exactly once). */
export interface HeldSequence {
  readonly slot: SequenceSlot;
  readonly release: () => void;
}

/**
 * Hands the executor's sequences to generations: a free sequence at once, else the first one
 * released, in arrival order. A chat session gets back the sequence holding its cache when that
 * one is free; otherwise generations take the free sequence whose cache is worth least (nobody's
 * first, then the one used longest ago).
 */
export class SequencePool {
  readonly #slots: SequenceSlot[];
  readonly #free: SequenceSlot[];
  readonly #waiting: ((slot: SequenceSlot) => void)[] = [];

  constructor(sequences: number) {
    this.#slots = Array.from({ length: sequences }, (_, i) => new SequenceSlot(i));
    this.#free = [...this.#slots];
  }

  /** Sequences in all. */
  get size(): number {
    return this.#slots.length;
  }

  /** Sequences a generation holds now. */
  get busy(): number {
    return this.#slots.length - this.#free.length;
  }

  /** Generations waiting for a sequence. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Waits for a sequence, preferring the one whose cache `owner` left there. */
  acquire(owner?: object): Promise<HeldSequence> {
    if (this.#free.length > 0 && this.#waiting.length === 0) {
      const mine = owner === undefined ? -1 : this.#free.findIndex((slot) => slot.owner === owner);
      const nobody = this.#free.findIndex((slot) => slot.owner === undefined);
      // #free is in release order, so index 0 is the sequence used longest ago.
      const index = mine >= 0 ? mine : Math.max(nobody, 0);
      const [slot] = this.#free.splice(index, 1);
      return Promise.resolve(this.#hold(slot!));
    }
    return new Promise((resolve) => {
      this.#waiting.push((slot) => resolve(this.#hold(slot)));
    });
  }

  /** Waits until every sequence is free and returns them all held (for dispose). */
  async acquireAll(): Promise<() => void> {
    const held = await Promise.all(this.#slots.map(() => this.acquire()));
    return () => {
      for (const sequence of held) sequence.release();
    };
  }

  #hold(slot: SequenceSlot): HeldSequence {
    let released = false;
    return {
      slot,
      release: () => {
        if (released) return;
        released = true;
        const next = this.#waiting.shift();
        if (next !== undefined) next(slot);
        else this.#free.push(slot);
      },
    };
  }
}
