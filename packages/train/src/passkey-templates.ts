// The text of multi-passkey training samples. A template is a list of pieces, each encoded on its
// own and concatenated as token lists (the original never tokenizes a sample jointly), so the
// original's strings reproduce its token sequences exactly. `{key}` and `{passkey}` are filled in.

/** One encoded piece of a template; `{key}` and `{passkey}` are replaced before encoding. */
export type TemplatePiece = string;

/** How to write every part of a sample. */
export interface PasskeyTemplates {
  /** A short name for reports (`original`, `toy`). */
  readonly name: string;
  /** Opens the context; the first piece is encoded with the tokenizer's special tokens (BOS). */
  readonly prefix: readonly TemplatePiece[];
  /** One inserted needle: key `k` and its passkey. */
  readonly needle: readonly TemplatePiece[];
  /** Closes the context, after the haystack. */
  readonly suffix: readonly TemplatePiece[];
  /** One question and its answer in the supervised tail. */
  readonly question: readonly TemplatePiece[];
  /** The name of the k-th needle (0-based, in document order, or drawn at random). */
  readonly keys: KeyScheme;
  readonly passkey: PasskeyScheme;
}

/** How needles are named. */
export type KeyScheme =
  /** `first`, `second`, ... in document order (the original; at most 20 needles). */
  | { readonly kind: 'ordinal' }
  /** Distinct `<adjective> <noun>` pairs drawn at random (the toy model's format). */
  | {
      readonly kind: 'adjective-noun';
      readonly adjectives: readonly string[];
      readonly nouns: readonly string[];
    };

/** How passkeys are drawn. */
export type PasskeyScheme =
  /** `length` words drawn with replacement from `words`, joined by single spaces (the original). */
  | { readonly kind: 'words'; readonly words: readonly string[]; readonly length: number }
  /** A `digits`-digit number whose first digit is not 0. */
  | { readonly kind: 'digits'; readonly digits: number };

/** The 20 ordinals of the original (num_passkeys <= 20). */
export const ORDINALS = [
  'first',
  'second',
  'third',
  'fourth',
  'fifth',
  'sixth',
  'seventh',
  'eighth',
  'ninth',
  'tenth',
  'eleventh',
  'twelfth',
  'thirteenth',
  'fourteenth',
  'fifteenth',
  'sixteenth',
  'seventeenth',
  'eighteenth',
  'nineteenth',
  'twentieth',
] as const;

/** The NATO alphabet the original draws passkey words from. */
export const NATO_WORDS = [
  'alpha',
  'bravo',
  'charlie',
  'delta',
  'echo',
  'foxtrot',
  'golf',
  'hotel',
  'india',
  'juliett',
  'kilo',
  'lima',
  'mike',
  'november',
  'oscar',
  'papa',
  'quebec',
  'romeo',
  'sierra',
  'tango',
  'uniform',
  'victor',
  'whiskey',
  'xray',
  'yankee',
  'zulu',
] as const;

/**
 * The original's prompt strings (compatibility mode), misspelt "Remeber" included: ordinal keys, 32
 * NATO words per passkey, `\n\n` around each needle and after each answer.
 */
export const ORIGINAL_PASSKEY_TEMPLATES: PasskeyTemplates = {
  name: 'original',
  prefix: ['<|im_start|> This is a very long story book: <book> '],
  needle: [
    '\n\n',
    "Remeber this sequence of words, it's the {key} passkey to the vault: ",
    '{passkey}',
    '\n\n',
  ],
  suffix: [' </book>.\n\n'],
  question: [
    'Based on the content of the book, what is the {key} passkey to the vault?\nPasskey: ',
    '{passkey}',
    '\n\n',
  ],
  keys: { kind: 'ordinal' },
  passkey: { kind: 'words', words: NATO_WORDS, length: 32 },
};

/** Adjectives of the bundled toy model's needle keys (tools/toy-model/train_toy_model.py). */
export const TOY_KEY_ADJECTIVES = (
  'red blue green yellow black white silver golden bronze copper purple orange crimson amber ' +
  'quiet loud hidden secret ancient modern northern southern eastern western frozen burning ' +
  'broken painted wooden stone iron glass velvet marble lonely busy narrow wide hollow bright ' +
  'dark gentle stormy sunny misty sandy rusty shiny dusty'
).split(' ');

/** Nouns of the toy model's needle keys. */
export const TOY_KEY_NOUNS = (
  'door gate bridge tower garden river lake mountain valley forest harbor lighthouse castle ' +
  'library museum market station temple cabin cottage chapel fountain island canyon desert ' +
  'meadow orchard vault cellar attic workshop bakery studio theater arena palace village ' +
  'kingdom compass lantern mirror clock piano violin ship train engine rocket falcon tiger wolf'
).split(' ');

/**
 * The bundled toy model's own needle format (what it was trained to retrieve): "The secret code of
 * the <key> is <7 digits>." needles and "Question: What is the secret code of the <key>? Answer: ..."
 * questions answered in the tail.
 */
export const TOY_PASSKEY_TEMPLATES: PasskeyTemplates = {
  name: 'toy',
  prefix: [''],
  needle: [' The secret code of the {key} is {passkey}.'],
  suffix: [],
  question: [
    '\n\nQuestion: What is the secret code of the {key}?\nAnswer: The secret code of the {key} is',
    ' {passkey}.',
  ],
  keys: { kind: 'adjective-noun', adjectives: TOY_KEY_ADJECTIVES, nouns: TOY_KEY_NOUNS },
  passkey: { kind: 'digits', digits: 7 },
};

/** Named template sets, for the CLI's `--templates`. */
export const PASSKEY_TEMPLATES: Readonly<Record<string, PasskeyTemplates>> = {
  original: ORIGINAL_PASSKEY_TEMPLATES,
  toy: TOY_PASSKEY_TEMPLATES,
};
