// Streams decoded text while holding back whatever could still become a stop string, so a stop
// string split across several tokens never reaches the consumer.

/** Result of feeding text to a {@link StopStringMatcher}. */
export interface StopStringStep {
  /** Text now safe to emit. */
  readonly text: string;
  /** A stop string was completed; `text` ends right before it and the rest is dropped. */
  readonly stopped: boolean;
}

/** Incremental matcher over a stream of text pieces for a fixed set of non-empty stop strings. */
export class StopStringMatcher {
  readonly #stops: readonly string[];
  #pending = '';
  #stopped = false;

  constructor(stopStrings: readonly string[]) {
    this.#stops = stopStrings.filter((stop) => stop.length > 0);
  }

  /** Appends `piece`; returns the text that can no longer be part of a stop string. */
  push(piece: string): StopStringStep {
    if (this.#stopped) return { text: '', stopped: true };
    this.#pending += piece;
    const pending = this.#pending;
    let earliest = -1;
    for (const stop of this.#stops) {
      const at = pending.indexOf(stop);
      if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
    }
    if (earliest >= 0) {
      this.#stopped = true;
      this.#pending = '';
      return { text: pending.slice(0, earliest), stopped: true };
    }
    // Hold back the longest suffix that is a proper prefix of some stop string.
    let hold = 0;
    for (const stop of this.#stops) {
      for (let k = Math.min(pending.length, stop.length - 1); k > hold; k--) {
        if (pending.endsWith(stop.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.#pending = pending.slice(pending.length - hold);
    return { text: pending.slice(0, pending.length - hold), stopped: false };
  }

  /** End of stream: releases the held-back text (it can no longer complete a stop string). */
  flush(): string {
    const text = this.#pending;
    this.#pending = '';
    return text;
  }
}
