// The Porter stemmer as NLTK's `PorterStemmer` runs it in its default NLTK_EXTENSIONS mode, because
// Google's `rouge_score` (use_stemmer=True) stems with it and NIAH scores must match the original.
// Words are handled as arrays of code points so lengths and indices agree with Python's `str`.

/** A word as its code points (`Array.from(text)`), so `length` and indices match Python's `len`/`[i]`. */
type Letters = readonly string[];

/**
 * NLTK's pool of irregular forms: a word found here (exactly, before lower-casing) maps straight to
 * its paradigm form and skips the algorithm.
 */
const IRREGULAR_FORMS: ReadonlyMap<string, string> = new Map([
  ['sky', 'sky'],
  ['skies', 'sky'],
  ['dying', 'die'],
  ['lying', 'lie'],
  ['tying', 'tie'],
  ['news', 'news'],
  ['innings', 'inning'],
  ['inning', 'inning'],
  ['outings', 'outing'],
  ['outing', 'outing'],
  ['cannings', 'canning'],
  ['canning', 'canning'],
  ['howe', 'howe'],
  ['proceed', 'proceed'],
  ['exceed', 'exceed'],
  ['succeed', 'succeed'],
]);

const VOWELS: ReadonlySet<string> = new Set(['a', 'e', 'i', 'o', 'u']);

/** Porter's consonant: not a/e/i/o/u, and a `y` only when it opens the word or follows a vowel. */
function isConsonant(word: Letters, index: number): boolean {
  // Walk back over a run of y's: each y flips the status of the letter before it.
  let flips = 0;
  let i = index;
  while (i > 0 && word[i] === 'y') {
    flips += 1;
    i -= 1;
  }
  const letter = word[i] as string;
  let consonant: boolean;
  if (VOWELS.has(letter)) consonant = false;
  else consonant = true; // includes a y at index 0
  // A y after a consonant is a vowel and vice versa; an odd number of flips inverts the base.
  return flips % 2 === 0 ? consonant : !consonant;
}

/** Porter's measure m of `[C](VC){m}[V]`: the number of vowel→consonant transitions. */
function measure(word: Letters): number {
  let count = 0;
  let previousVowel = false;
  for (let i = 0; i < word.length; i += 1) {
    const consonant = isConsonant(word, i);
    if (consonant && previousVowel) count += 1;
    previousVowel = !consonant;
  }
  return count;
}

function containsVowel(word: Letters): boolean {
  for (let i = 0; i < word.length; i += 1) if (!isConsonant(word, i)) return true;
  return false;
}

/** Condition *d: the word ends with two equal consonants. */
function endsDoubleConsonant(word: Letters): boolean {
  const n = word.length;
  return n >= 2 && word[n - 1] === word[n - 2] && isConsonant(word, n - 1);
}

/**
 * Condition *o: ends consonant–vowel–consonant with the last not w, x or y; NLTK also accepts a
 * two-letter word vowel–consonant (any consonant), so "ow" or "at" count.
 */
function endsCvc(word: Letters): boolean {
  const n = word.length;
  if (n >= 3) {
    const last = word[n - 1] as string;
    if (
      isConsonant(word, n - 3) &&
      !isConsonant(word, n - 2) &&
      isConsonant(word, n - 1) &&
      last !== 'w' &&
      last !== 'x' &&
      last !== 'y'
    )
      return true;
  }
  return n === 2 && !isConsonant(word, 0) && isConsonant(word, 1);
}

/** True when `word` ends with the ASCII `suffix`. */
function endsWith(word: Letters, suffix: string): boolean {
  const offset = word.length - suffix.length;
  if (offset < 0) return false;
  for (let k = 0; k < suffix.length; k += 1) if (word[offset + k] !== suffix[k]) return false;
  return true;
}

/** `word` without its last `count` letters, followed by the letters of `replacement`. */
function replaceEnd(word: Letters, count: number, replacement: string): Letters {
  return [...word.slice(0, word.length - count), ...replacement];
}

const DOUBLE_CONSONANT = Symbol('*d');

/**
 * One suffix rule: when the word ends with `suffix` (or, for `DOUBLE_CONSONANT`, with a double
 * consonant, both letters removed), the stem before it gets `replacement` if `condition` holds.
 */
interface Rule {
  readonly suffix: string | typeof DOUBLE_CONSONANT;
  readonly replacement: string;
  readonly condition?: (stem: Letters) => boolean;
}

/**
 * Applies the first rule whose suffix matches; if its condition fails the word is returned as is
 * and no later rule is tried (the longest-match discipline of the paper).
 */
function applyFirstRule(word: Letters, rules: readonly Rule[]): Letters {
  for (const rule of rules) {
    let removed: number;
    if (rule.suffix === DOUBLE_CONSONANT) {
      if (!endsDoubleConsonant(word)) continue;
      removed = 2;
    } else {
      if (!endsWith(word, rule.suffix)) continue;
      removed = rule.suffix.length;
    }
    const stem = word.slice(0, word.length - removed);
    if (rule.condition === undefined || rule.condition(stem)) return [...stem, ...rule.replacement];
    return word;
  }
  return word;
}

const positiveMeasure = (stem: Letters): boolean => measure(stem) > 0;
const measureAboveOne = (stem: Letters): boolean => measure(stem) > 1;

/** Step 1a: plurals. NLTK: a four-letter "-ies" word keeps "ie" (dies → die, ties → tie). */
function step1a(word: Letters): Letters {
  if (word.length === 4 && endsWith(word, 'ies')) return replaceEnd(word, 3, 'ie');
  return applyFirstRule(word, [
    { suffix: 'sses', replacement: 'ss' },
    { suffix: 'ies', replacement: 'i' },
    { suffix: 'ss', replacement: 'ss' },
    { suffix: 's', replacement: '' },
  ]);
}

/**
 * Step 1b: -eed, -ed, -ing, then tidy the stem. NLTK: "-ied" becomes "ie" in a four-letter word
 * (died → die) and "i" otherwise (spied → spi), ending the step.
 */
function step1b(word: Letters): Letters {
  if (endsWith(word, 'ied')) return replaceEnd(word, 3, word.length === 4 ? 'ie' : 'i');
  if (endsWith(word, 'eed')) {
    const stem = word.slice(0, word.length - 3);
    return measure(stem) > 0 ? [...stem, 'e', 'e'] : word;
  }
  let stem: Letters | undefined;
  for (const suffix of ['ed', 'ing']) {
    if (endsWith(word, suffix)) {
      const candidate = word.slice(0, word.length - suffix.length);
      if (containsVowel(candidate)) {
        stem = candidate;
        break;
      }
    }
  }
  if (stem === undefined) return word;
  const last = stem[stem.length - 1] as string;
  return applyFirstRule(stem, [
    { suffix: 'at', replacement: 'ate' },
    { suffix: 'bl', replacement: 'ble' },
    { suffix: 'iz', replacement: 'ize' },
    { suffix: DOUBLE_CONSONANT, replacement: last, condition: () => !['l', 's', 'z'].includes(last) },
    { suffix: '', replacement: 'e', condition: (s) => measure(s) === 1 && endsCvc(s) },
  ]);
}

/**
 * Step 1c: final y → i. NLTK: only after a consonant that is not the whole stem (happy → happi,
 * enjoy → enjoy, cry → cri, by → by).
 */
function step1c(word: Letters): Letters {
  return applyFirstRule(word, [
    { suffix: 'y', replacement: 'i', condition: (s) => s.length > 1 && isConsonant(s, s.length - 1) },
  ]);
}

/**
 * Step 2: double suffixes. NLTK departures: "-alli" is tried first and, when it applies, step 2
 * runs again on the result; "-bli" (not "-abli") → "ble"; extra rules "-fulli" → "ful" and
 * "-logi" → "log" whose measure includes the "l".
 */
function step2(word: Letters): Letters {
  if (endsWith(word, 'alli') && positiveMeasure(word.slice(0, word.length - 4)))
    return step2(replaceEnd(word, 4, 'al'));
  return applyFirstRule(word, [
    { suffix: 'ational', replacement: 'ate', condition: positiveMeasure },
    { suffix: 'tional', replacement: 'tion', condition: positiveMeasure },
    { suffix: 'enci', replacement: 'ence', condition: positiveMeasure },
    { suffix: 'anci', replacement: 'ance', condition: positiveMeasure },
    { suffix: 'izer', replacement: 'ize', condition: positiveMeasure },
    { suffix: 'bli', replacement: 'ble', condition: positiveMeasure },
    { suffix: 'alli', replacement: 'al', condition: positiveMeasure },
    { suffix: 'entli', replacement: 'ent', condition: positiveMeasure },
    { suffix: 'eli', replacement: 'e', condition: positiveMeasure },
    { suffix: 'ousli', replacement: 'ous', condition: positiveMeasure },
    { suffix: 'ization', replacement: 'ize', condition: positiveMeasure },
    { suffix: 'ation', replacement: 'ate', condition: positiveMeasure },
    { suffix: 'ator', replacement: 'ate', condition: positiveMeasure },
    { suffix: 'alism', replacement: 'al', condition: positiveMeasure },
    { suffix: 'iveness', replacement: 'ive', condition: positiveMeasure },
    { suffix: 'fulness', replacement: 'ful', condition: positiveMeasure },
    { suffix: 'ousness', replacement: 'ous', condition: positiveMeasure },
    { suffix: 'aliti', replacement: 'al', condition: positiveMeasure },
    { suffix: 'iviti', replacement: 'ive', condition: positiveMeasure },
    { suffix: 'biliti', replacement: 'ble', condition: positiveMeasure },
    { suffix: 'fulli', replacement: 'ful', condition: positiveMeasure },
    { suffix: 'logi', replacement: 'log', condition: () => positiveMeasure(word.slice(0, word.length - 3)) },
  ]);
}

/** Step 3: -ic-, -full, -ness and the like. */
function step3(word: Letters): Letters {
  return applyFirstRule(word, [
    { suffix: 'icate', replacement: 'ic', condition: positiveMeasure },
    { suffix: 'ative', replacement: '', condition: positiveMeasure },
    { suffix: 'alize', replacement: 'al', condition: positiveMeasure },
    { suffix: 'iciti', replacement: 'ic', condition: positiveMeasure },
    { suffix: 'ical', replacement: 'ic', condition: positiveMeasure },
    { suffix: 'ful', replacement: '', condition: positiveMeasure },
    { suffix: 'ness', replacement: '', condition: positiveMeasure },
  ]);
}

/** Step 4: strip a final suffix when the stem has m > 1 ("-ion" only after s or t). */
function step4(word: Letters): Letters {
  return applyFirstRule(word, [
    { suffix: 'al', replacement: '', condition: measureAboveOne },
    { suffix: 'ance', replacement: '', condition: measureAboveOne },
    { suffix: 'ence', replacement: '', condition: measureAboveOne },
    { suffix: 'er', replacement: '', condition: measureAboveOne },
    { suffix: 'ic', replacement: '', condition: measureAboveOne },
    { suffix: 'able', replacement: '', condition: measureAboveOne },
    { suffix: 'ible', replacement: '', condition: measureAboveOne },
    { suffix: 'ant', replacement: '', condition: measureAboveOne },
    { suffix: 'ement', replacement: '', condition: measureAboveOne },
    { suffix: 'ment', replacement: '', condition: measureAboveOne },
    { suffix: 'ent', replacement: '', condition: measureAboveOne },
    {
      suffix: 'ion',
      replacement: '',
      condition: (s) => measureAboveOne(s) && (s[s.length - 1] === 's' || s[s.length - 1] === 't'),
    },
    { suffix: 'ou', replacement: '', condition: measureAboveOne },
    { suffix: 'ism', replacement: '', condition: measureAboveOne },
    { suffix: 'ate', replacement: '', condition: measureAboveOne },
    { suffix: 'iti', replacement: '', condition: measureAboveOne },
    { suffix: 'ous', replacement: '', condition: measureAboveOne },
    { suffix: 'ive', replacement: '', condition: measureAboveOne },
    { suffix: 'ize', replacement: '', condition: measureAboveOne },
  ]);
}

/** Step 5a: drop a final e when m > 1, or when m = 1 and the stem does not end cvc. */
function step5a(word: Letters): Letters {
  if (!endsWith(word, 'e')) return word;
  const stem = word.slice(0, word.length - 1);
  const m = measure(stem);
  if (m > 1 || (m === 1 && !endsCvc(stem))) return stem;
  return word;
}

/** Step 5b: -ll → -l when the word without its last l has m > 1. */
function step5b(word: Letters): Letters {
  return applyFirstRule(word, [
    { suffix: 'll', replacement: 'l', condition: () => measureAboveOne(word.slice(0, word.length - 1)) },
  ]);
}

/**
 * Stems one word exactly as NLTK's `PorterStemmer().stem(word)` (mode NLTK_EXTENSIONS, NLTK ≥ 3.6):
 * the word is lower-cased; a word found verbatim in NLTK's irregular-forms pool ("dying" → "die",
 * "skies" → "sky", "news", "innings"…) returns its paradigm form (the lookup uses the word as
 * given, so "Dying" is not found and stems to "dy", as in NLTK); a word of at most 2 code points
 * is returned lower-cased; otherwise steps 1a–5b run. Letters other than a/e/i/o/u/y (digits,
 * non-ASCII) count as consonants, as in NLTK.
 */
export function porterStem(word: string): string {
  const lower = word.toLowerCase();
  const irregular = IRREGULAR_FORMS.get(word);
  if (irregular !== undefined) return irregular;
  const original = Array.from(word);
  if (original.length <= 2) return lower;
  let letters: Letters = Array.from(lower);
  letters = step1a(letters);
  letters = step1b(letters);
  letters = step1c(letters);
  letters = step2(letters);
  letters = step3(letters);
  letters = step4(letters);
  letters = step5a(letters);
  letters = step5b(letters);
  return letters.join('');
}
