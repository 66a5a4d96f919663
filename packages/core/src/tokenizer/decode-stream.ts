// Incremental detokenisation for streaming output. Decoding token by token is wrong twice over: a
// multibyte character split across byte-level tokens decodes to U+FFFD halves, and decoders that strip
// a leading space (Metaspace) drop it from every piece. So each step decodes a small window that
// starts with the previously emitted ids and emits only the growth, holding back an unfinished tail.

/** Incremental text of a token stream. */
export interface DecodeStream {
  /**
   * Adds one token id; returns the text it completes (possibly `''` while a multibyte character is
   * still incomplete). Concatenating every return value and {@link flush} gives `decode(allIds)`.
   */
  push(id: number): string;
  /** Returns whatever is held back (an incomplete character decodes to U+FFFD) and resets. */
  flush(): string;
}

const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Held-back tokens after which the stream emits anyway. A UTF-8 character has at most 4 bytes and
 * every token at least one, so only malformed output (lone lead bytes) ever reaches this.
 */
const MAX_HELD_TOKENS = 16;

/** Length of the common prefix of two strings, in UTF-16 code units. */
function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * A {@link DecodeStream} over any `decode(ids) -> text` function. `decode` must throw for ids it
 * cannot decode; the stream then stays as it was before that `push`.
 */
export class WindowedDecodeStream implements DecodeStream {
  private readonly decode: (ids: readonly number[]) => string;
  /** Context ids (already emitted) followed by held ids (not yet emitted). */
  private window: number[] = [];
  /** Number of leading ids of `window` whose text is already emitted. */
  private contextLength = 0;
  /** `decode(window.slice(0, contextLength))`. */
  private contextText = '';

  constructor(decode: (ids: readonly number[]) => string) {
    this.decode = decode;
  }

  push(id: number): string {
    const window = [...this.window, id];
    const text = this.decode(window);
    this.window = window;
    const held = window.length - this.contextLength;
    if (text.endsWith(REPLACEMENT_CHARACTER) && held < MAX_HELD_TOKENS) return '';
    return this.emit(text);
  }

  flush(): string {
    const text = this.window.length > this.contextLength ? this.emit(this.decode(this.window)) : '';
    this.window = [];
    this.contextLength = 0;
    this.contextText = '';
    return text;
  }

  /**
   * Emits the growth of `text` (the window's decoding); the ids just emitted become the context of
   * the next step (they end on a whole character, so they decode cleanly on their own).
   */
  private emit(text: string): string {
    // Decoders are prefix-stable in practice; if one is not, emit from where the texts diverge.
    const start = text.startsWith(this.contextText)
      ? this.contextText.length
      : commonPrefixLength(text, this.contextText);
    this.window = this.window.slice(this.contextLength);
    this.contextLength = this.window.length;
    this.contextText = this.window.length === 0 ? '' : this.decode(this.window);
    return text.slice(start);
  }
}
