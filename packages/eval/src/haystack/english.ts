// English morphology for the haystack grammar: verb forms, plurals, articles and numbers spelled
// out in words. Vocabulary lists stay short and readable because regular forms are derived here.

/** Every form of a verb the grammar needs. */
export interface VerbForms {
  readonly base: string;
  readonly third: string;
  readonly past: string;
  readonly participle: string;
  readonly gerund: string;
}

/** A countable noun's singular and plural. */
export interface NounForms {
  readonly singular: string;
  readonly plural: string;
}

const VOWELS = 'aeiou';

function isVowel(char: string | undefined): boolean {
  return char !== undefined && VOWELS.includes(char);
}

function thirdPerson(base: string): string {
  if (/(s|x|z|ch|sh)$/.test(base)) return `${base}es`;
  if (base.endsWith('y') && !isVowel(base[base.length - 2])) return `${base.slice(0, -1)}ies`;
  if (base.endsWith('o') && !isVowel(base[base.length - 2])) return `${base}es`;
  return `${base}s`;
}

/**
 * Parses a verb spec: `walk` (regular), `plan+` (doubles its last consonant: planned, planning),
 * `take/took/taken` (irregular past and participle; `+` may still mark doubling), and an optional
 * fourth field overriding the third person (`have/had/had/has`). Multi-word verbs inflect the
 * first word and keep the rest (`look after` -> `looked after`; `set+ up/set/set` -> `setting up`),
 * so irregular fields hold the first word's forms only.
 */
export function verbForms(spec: string): VerbForms {
  const [head = '', pastSpec, participleSpec, thirdSpec] = spec.split('/');
  const space = head.indexOf(' ');
  const word = space < 0 ? head : head.slice(0, space);
  const rest = space < 0 ? '' : head.slice(space);
  const doubles = word.endsWith('+');
  const base = doubles ? word.slice(0, -1) : word;
  const stem = doubles ? base + base.slice(-1) : base;
  let regularPast: string;
  if (doubles) regularPast = `${stem}ed`;
  else if (base.endsWith('e')) regularPast = `${base}d`;
  else if (base.endsWith('y') && !isVowel(base[base.length - 2])) regularPast = `${base.slice(0, -1)}ied`;
  else regularPast = `${base}ed`;
  let gerund: string;
  if (doubles) gerund = `${stem}ing`;
  else if (base.endsWith('ie')) gerund = `${base.slice(0, -2)}ying`;
  else if (base.endsWith('e') && !/(ee|ye|oe)$/.test(base) && base.length > 2)
    gerund = `${base.slice(0, -1)}ing`;
  else gerund = `${base}ing`;
  const past = pastSpec ?? regularPast;
  return {
    base: base + rest,
    third: (thirdSpec ?? thirdPerson(base)) + rest,
    past: past + rest,
    participle: (participleSpec ?? past) + rest,
    gerund: gerund + rest,
  };
}

/** Parses a noun spec: `cup` (regular plural) or `child/children` (irregular). The last word of a compound inflects. */
export function nounForms(spec: string): NounForms {
  const slash = spec.indexOf('/');
  if (slash >= 0) return { singular: spec.slice(0, slash), plural: spec.slice(slash + 1) };
  let plural: string;
  if (/(s|x|z|ch|sh)$/.test(spec)) plural = `${spec}es`;
  else if (spec.endsWith('y') && !isVowel(spec[spec.length - 2])) plural = `${spec.slice(0, -1)}ies`;
  else plural = `${spec}s`;
  return { singular: spec, plural };
}

const AN_BEFORE_CONSONANT = new Set(['honest', 'hour', 'honor', 'heir', 'hourly']);
const A_BEFORE_VOWEL = new Set([
  'one',
  'once',
  'useful',
  'usual',
  'unique',
  'uniform',
  'university',
  'unit',
  'union',
  'user',
  'utensil',
  'ukulele',
  'european',
]);

/** `a` or `an` for the phrase that follows it. */
export function indefiniteArticle(phrase: string): 'a' | 'an' {
  const space = phrase.indexOf(' ');
  const first = (space < 0 ? phrase : phrase.slice(0, space)).toLowerCase();
  if (AN_BEFORE_CONSONANT.has(first)) return 'an';
  if (A_BEFORE_VOWEL.has(first)) return 'a';
  return isVowel(first[0]) ? 'an' : 'a';
}

/** `phrase` with its indefinite article: `an old lamp`. */
export function withArticle(phrase: string): string {
  return `${indefiniteArticle(phrase)} ${phrase}`;
}

const ONES = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

function belowHundred(n: number): string {
  if (n < 20) return ONES[n] as string;
  const tens = TENS[Math.floor(n / 10)] as string;
  return n % 10 === 0 ? tens : `${tens}-${ONES[n % 10]}`;
}

function belowThousand(n: number): string {
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (hundreds === 0) return belowHundred(rest);
  const head = `${ONES[hundreds]} hundred`;
  return rest === 0 ? head : `${head} and ${belowHundred(rest)}`;
}

/** A non-negative integer below one million in British-style words: `three hundred and forty-two`. */
export function numberWords(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= 1_000_000)
    throw new RangeError(`numberWords: ${n} is not an integer in [0, 1e6)`);
  const thousands = Math.floor(n / 1000);
  const rest = n % 1000;
  if (thousands === 0) return belowThousand(rest);
  const head = `${belowThousand(thousands)} thousand`;
  if (rest === 0) return head;
  return rest < 100 ? `${head} and ${belowHundred(rest)}` : `${head} ${belowThousand(rest)}`;
}

/** A year spelled the way people say it: `nineteen eighty-four`, `two thousand and six`. */
export function yearWords(year: number): string {
  if (year >= 2000 && year < 2010) return numberWords(year);
  const century = Math.floor(year / 100);
  const rest = year % 100;
  if (rest === 0) return `${belowHundred(century)} hundred`;
  return `${belowHundred(century)} ${rest < 10 ? `oh ${ONES[rest]}` : belowHundred(rest)}`;
}

/** First character upper-cased (ASCII). */
export function capitalize(text: string): string {
  return text.length === 0 ? text : text.charAt(0).toUpperCase() + text.slice(1);
}
