// The executor's one sequence, shared by every generation of a model: generations take turns, and
// the slot remembers which token ids its KV cache holds and for whom (a chat session), so the next
// turn of that session prefills only the tokens it adds.

/** Serialises generations on one executor sequence and records what its cache holds. */
export class SequenceSlot {
  #tail: Promise<void> = Promise.resolve();
  #owner: object | undefined;
  #tokens: readonly number[] = [];

  /** Waits for the slot; the returned function releases it (call it exactly once). */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    return release;
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
