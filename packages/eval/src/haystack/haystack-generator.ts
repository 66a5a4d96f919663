// Deterministic filler prose for needle-in-a-haystack prompts and retrieval training. The text holds
// no digit characters at all, so a needle's digits can never be confused with the haystack's.
import { EvalOptionError } from '../errors.js';
import { Mulberry32 } from './mulberry32.js';
import { SentenceComposer } from './sentence-composer.js';

/** Options of the haystack generator. */
export interface HaystackOptions {
  /** Any safe integer (default 0). The same seed gives byte-identical text on every platform. */
  seed?: number;
}

/** Separator between paragraphs in {@link generateHaystack}'s output. */
export const PARAGRAPH_SEPARATOR = '\n\n';

function seedOf(options: HaystackOptions | undefined): number {
  const seed = options?.seed ?? 0;
  if (!Number.isSafeInteger(seed))
    throw new EvalOptionError(`haystack: seed must be a safe integer, got ${String(seed)}`);
  return seed;
}

/**
 * Infinite deterministic stream of paragraphs (3 to 8 sentences each, ASCII, no digits, no line
 * breaks inside a paragraph). Throws EvalOptionError for a seed that is not a safe integer.
 */
export function* haystackParagraphs(options?: HaystackOptions): Generator<string> {
  const composer = new SentenceComposer(new Mulberry32(seedOf(options)));
  for (;;) yield composer.paragraph();
}

/**
 * At least `minChars` characters of prose: whole paragraphs joined by a blank line, stopping at the
 * first paragraph that reaches `minChars` (so the text ends with a full sentence, never mid-word).
 * `minChars` 0 gives the empty string. The text is a prefix of the same seed's
 * {@link haystackParagraphs} stream, so a longer haystack extends a shorter one.
 */
export function generateHaystack(minChars: number, options?: HaystackOptions): string {
  if (!Number.isSafeInteger(minChars) || minChars < 0) {
    throw new EvalOptionError(
      `haystack: minChars must be a non-negative safe integer, got ${String(minChars)}`,
    );
  }
  const seed = seedOf(options);
  const parts: string[] = [];
  let length = 0;
  const composer = new SentenceComposer(new Mulberry32(seed));
  while (length < minChars) {
    if (parts.length > 0) length += PARAGRAPH_SEPARATOR.length;
    const paragraph = composer.paragraph();
    parts.push(paragraph);
    length += paragraph.length;
  }
  return parts.join(PARAGRAPH_SEPARATOR);
}
