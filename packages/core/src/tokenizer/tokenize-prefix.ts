// Tokenizing only the start of a long text (a 5 MB haystack, a corpus directory): growing prefixes
// cut at whitespace are encoded until they hold the tokens asked for plus a margin, so the ids equal
// those of the whole text while the work stays proportional to what is needed.

/** Tokens kept beyond the need when a prefix is encoded: only a prefix's last tokens can differ. */
const PREFIX_MARGIN_TOKENS = 64;

/**
 * The first `count` ids of `encode(text)` (all of them when the text has fewer), found by encoding
 * growing prefixes of `text`. Never spreads large arrays into call arguments.
 */
export function tokenizePrefix(text: string, encode: (text: string) => number[], count: number): number[] {
  // Tokens are rarely longer than 16 characters; start near the need and double.
  let chars = Math.min(text.length, count * 4 + 1024);
  for (;;) {
    if (chars >= text.length) {
      const ids = encode(text);
      return ids.length > count ? ids.slice(0, count) : ids;
    }
    const cut = Math.max(text.lastIndexOf(' ', chars), text.lastIndexOf('\n', chars));
    const ids = encode(text.slice(0, cut > 0 ? cut : chars));
    if (ids.length >= count + PREFIX_MARGIN_TOKENS) return ids.slice(0, count);
    chars *= 2;
  }
}
