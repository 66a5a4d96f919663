// Python's string behaviours that LongBench's metrics depend on, for JavaScript strings: what
// `str.split()` and `str.strip()` call whitespace, `string.punctuation`, and code-point iteration
// (a Python str is a sequence of code points; a JS string of UTF-16 units).

/** Characters for which Python's `str.isspace()` is true (what `str.split()` splits on). */
const PYTHON_WHITESPACE_CLASS =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RUN = new RegExp(`[${PYTHON_WHITESPACE_CLASS}]+`);
const LEADING_WHITESPACE = new RegExp(`^[${PYTHON_WHITESPACE_CLASS}]+`);
const TRAILING_WHITESPACE = new RegExp(`[${PYTHON_WHITESPACE_CLASS}]+$`);

/** `text.split()` in Python: split on runs of whitespace, no empty pieces. */
export function pythonSplit(text: string): string[] {
  return text.split(WHITESPACE_RUN).filter((piece) => piece.length > 0);
}

/** `text.strip()` in Python (which, unlike JS `trim`, keeps U+FEFF and strips U+001C–U+001F, U+0085). */
export function pythonStrip(text: string): string {
  return text.replace(LEADING_WHITESPACE, '').replace(TRAILING_WHITESPACE, '');
}

/** Python's `string.punctuation`: the 32 ASCII punctuation characters. */
export const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** The code points of `text` (each a string of one or two UTF-16 units). */
export function codePoints(text: string): string[] {
  return Array.from(text);
}

/** `text` without the code points in `remove`. */
export function removeCharacters(text: string, remove: ReadonlySet<string>): string {
  let out = '';
  for (const character of text) if (!remove.has(character)) out += character;
  return out;
}
