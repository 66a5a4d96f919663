// Synthetic multi-passkey samples for gate training (reference spec §2.7): several passkeys hidden
// at several depths of a haystack, and a tail that asks for each of them in document order and
// answers. Only the tail is supervised: the distillation loss compares the teacher's and the
// student's final hidden states there, where answering needs the needles far back in the context.
import { createRng, type Rng, tokenizePrefix } from '@duo-attn/core';
import { float32Linspace, integerLinspace } from './context-grid.js';
import { TrainDataError, TrainOptionError } from './errors.js';
import { ORDINALS, type PasskeyTemplates, type TemplatePiece } from './passkey-templates.js';

/** What the dataset needs of a tokenizer. */
export interface PasskeyTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
}

/** How samples are drawn. Defaults are the original's training settings. */
export interface PasskeyDatasetOptions {
  readonly tokenizer: PasskeyTokenizer;
  /** Haystack text (a corpus, essays, or generated prose); only its first tokens are used. */
  readonly haystack: string;
  readonly templates: PasskeyTemplates;
  /** Shortest and longest haystack length in tokens (original: 1000 and 32000). */
  readonly minContext: number;
  readonly maxContext: number;
  /** Points of the context-length grid (original: 50). */
  readonly contextIntervals?: number;
  /** Needle depths, fractions of the haystack (original: 0.05 to 0.95 in 1000 points). */
  readonly minDepth?: number;
  readonly maxDepth?: number;
  readonly depthIntervals?: number;
  /** Needles per sample (original: 10; at most 20 with ordinal keys). */
  readonly numPasskeys?: number;
  /**
   * Longest sample in tokens, everything included: at most this (e.g. the model's context), and no
   * more than `maxContext` plus the longest needles and tail the templates produce. The haystack
   * part of a sample is cut so that it never exceeds it.
   */
  readonly maxLength?: number;
  /**
   * Token ids that end a sentence: when given, each needle moves back to just after one (the toy
   * model was trained that way); the original inserts at the exact token index.
   */
  readonly sentenceEndIds?: ReadonlySet<number>;
  /**
   * The original's padding (for its 16-way sequence parallelism): 1 to 16 haystack tokens before
   * the suffix so the length is a multiple of 16 (its precedence bug adds 16 when already aligned).
   */
  readonly padToMultipleOf16?: boolean;
}

/** One training sample. */
export interface PasskeySample {
  /** The context then the supervised tail. */
  readonly inputIds: number[];
  /** Positions of `inputIds` whose final hidden states are compared (the whole tail). */
  readonly labelPositions: number[];
  /** Haystack tokens (the grid point, or less when cut to `maxLength`). */
  readonly contextLength: number;
  /** Needle depths used, ascending. */
  readonly depths: number[];
  /** The passkeys, in document order. */
  readonly passkeys: string[];
}

/** Samples are drawn by index: the same (seed, step) gives the same sample on every machine. */
export class PasskeyDataset {
  /** Haystack lengths of the grid, in tokens. */
  readonly contextLengths: readonly number[];
  /** Needle depths of the grid. */
  readonly depths: readonly number[];
  readonly numPasskeys: number;
  /** The longest sample this dataset produces. */
  readonly maxLength: number;
  private readonly options: PasskeyDatasetOptions;
  private readonly haystackIds: number[];
  private readonly encoded = new Map<string, number[]>();

  constructor(options: PasskeyDatasetOptions) {
    this.options = options;
    const { templates } = options;
    const numPasskeys = options.numPasskeys ?? 10;
    if (!Number.isSafeInteger(numPasskeys) || numPasskeys < 1) {
      throw new TrainOptionError(`numPasskeys must be a positive integer, got ${numPasskeys}`);
    }
    if (templates.keys.kind === 'ordinal' && numPasskeys > ORDINALS.length) {
      throw new TrainOptionError(
        `ordinal keys allow at most ${ORDINALS.length} passkeys, got ${numPasskeys}`,
      );
    }
    if (templates.keys.kind === 'adjective-noun') {
      const pairs = templates.keys.adjectives.length * templates.keys.nouns.length;
      if (numPasskeys > pairs)
        throw new TrainOptionError(`${numPasskeys} passkeys need distinct keys; only ${pairs} exist`);
    }
    this.numPasskeys = numPasskeys;
    const { minContext, maxContext } = options;
    if (
      !Number.isSafeInteger(minContext) ||
      minContext < 1 ||
      !Number.isSafeInteger(maxContext) ||
      maxContext < minContext
    ) {
      throw new TrainOptionError(
        `context lengths must satisfy 1 <= min <= max, got ${minContext} and ${maxContext}`,
      );
    }
    this.contextLengths = integerLinspace(minContext, maxContext, options.contextIntervals ?? 50);
    const minDepth = options.minDepth ?? 0.05;
    const maxDepth = options.maxDepth ?? 0.95;
    if (!(minDepth >= 0 && maxDepth <= 1 && minDepth <= maxDepth)) {
      throw new TrainOptionError(`depths must satisfy 0 <= min <= max <= 1, got ${minDepth} and ${maxDepth}`);
    }
    this.depths = float32Linspace(minDepth, maxDepth, options.depthIntervals ?? 1000);
    if (this.depths.length < numPasskeys) {
      throw new TrainOptionError(
        `${numPasskeys} passkeys need as many distinct depths; the grid has ${this.depths.length}`,
      );
    }
    this.haystackIds = tokenizePrefix(
      options.haystack,
      (text) => options.tokenizer.encode(text, { addSpecialTokens: false }),
      maxContext,
    );
    if (this.haystackIds.length < maxContext) {
      throw new TrainDataError(
        `the haystack has ${this.haystackIds.length} tokens; the longest context needs ${maxContext} (give more text)`,
      );
    }
    this.maxLength = Math.min(
      options.maxLength ?? Number.POSITIVE_INFINITY,
      maxContext + this.longestOverhead(),
    );
    if (!Number.isSafeInteger(this.maxLength) || this.maxLength < 1) {
      throw new TrainOptionError(`maxLength must be a positive integer, got ${this.maxLength}`);
    }
  }

  /** Samples per epoch: one per context-length grid point, as the original's dataset length. */
  get size(): number {
    return this.contextLengths.length;
  }

  /**
   * The sample of grid point `index` drawn with `rng` (depths, keys and passkeys). Throws
   * {@link TrainDataError} when the needles and tail leave no room for haystack within `maxLength`.
   */
  sample(index: number, rng: Rng): PasskeySample {
    const { templates } = this.options;
    const contextTarget = this.contextLengths[index % this.contextLengths.length]!;
    const depths = this.drawDepths(rng);
    const keys = this.drawKeys(rng);
    const passkeys = keys.map(() => this.drawPasskey(rng));
    const needles = keys.map((key, k) => this.encodePieces(templates.needle, key, passkeys[k]!));
    const questions = keys.map((key, k) => this.encodePieces(templates.question, key, passkeys[k]!));
    const prefix = this.encodePieces(templates.prefix, '', '', true);
    const suffix = this.encodePieces(templates.suffix, '', '');
    const tail = questions.flat();
    const padding = this.options.padToMultipleOf16 ? 16 : 0;
    const fixed = prefix.length + needles.reduce((n, ids) => n + ids.length, 0) + suffix.length + tail.length;
    const contextLength = Math.min(contextTarget, this.maxLength - fixed - padding);
    if (contextLength < 1) {
      throw new TrainDataError(
        `a sample needs ${fixed + padding} tokens for its ${keys.length} needles and tail, more than maxLength ${this.maxLength}`,
      );
    }
    const haystack = this.haystackIds.slice(0, contextLength);
    const context: number[] = [...prefix];
    let previous = 0;
    depths.forEach((depth, k) => {
      let point = Math.trunc(haystack.length * depth);
      const ends = this.options.sentenceEndIds;
      if (ends !== undefined) while (point > previous && !ends.has(haystack[point - 1]!)) point--;
      for (let i = previous; i < point; i++) context.push(haystack[i]!);
      for (const id of needles[k]!) context.push(id);
      previous = point;
    });
    for (let i = previous; i < haystack.length; i++) context.push(haystack[i]!);
    if (this.options.padToMultipleOf16) {
      // The original's guard is always true, so 1..16 tokens, never 0.
      const pad = 16 - ((context.length + tail.length + suffix.length) % 16);
      for (let i = this.haystackIds.length - pad; i < this.haystackIds.length; i++)
        context.push(this.haystackIds[i]!);
    }
    for (const id of suffix) context.push(id);
    const inputIds = [...context, ...tail];
    const labelPositions = Array.from({ length: tail.length }, (_, i) => context.length + i);
    return { inputIds, labelPositions, contextLength, depths, passkeys };
  }

  /** `numPasskeys` distinct grid depths (a random permutation's first ones), ascending. */
  private drawDepths(rng: Rng): number[] {
    const chosen = new Set<number>();
    while (chosen.size < this.numPasskeys) chosen.add(rng.nextUint32() % this.depths.length);
    return [...chosen].map((i) => this.depths[i]!).sort((a, b) => a - b);
  }

  private drawKeys(rng: Rng): string[] {
    const scheme = this.options.templates.keys;
    if (scheme.kind === 'ordinal') return ORDINALS.slice(0, this.numPasskeys);
    const keys = new Set<string>();
    while (keys.size < this.numPasskeys) {
      const adjective = scheme.adjectives[rng.nextUint32() % scheme.adjectives.length]!;
      keys.add(`${adjective} ${scheme.nouns[rng.nextUint32() % scheme.nouns.length]!}`);
    }
    return [...keys];
  }

  private drawPasskey(rng: Rng): string {
    const scheme = this.options.templates.passkey;
    if (scheme.kind === 'words') {
      return Array.from(
        { length: scheme.length },
        () => scheme.words[rng.nextUint32() % scheme.words.length]!,
      ).join(' ');
    }
    let value = String(1 + (rng.nextUint32() % 9));
    for (let i = 1; i < scheme.digits; i++) value += String(rng.nextUint32() % 10);
    return value;
  }

  /** Each piece encoded on its own (cached), the first with special tokens when `first` is set. */
  private encodePieces(
    pieces: readonly TemplatePiece[],
    key: string,
    passkey: string,
    first = false,
  ): number[] {
    const ids: number[] = [];
    pieces.forEach((piece, i) => {
      const text = piece.replaceAll('{key}', key).replaceAll('{passkey}', passkey);
      const special = first && i === 0;
      const cacheKey = `${special ? 1 : 0}${text}`;
      let encoded = this.encoded.get(cacheKey);
      if (encoded === undefined) {
        encoded = this.options.tokenizer.encode(text, { addSpecialTokens: special });
        if (!piece.includes('{passkey}')) this.encoded.set(cacheKey, encoded);
      }
      for (const id of encoded) ids.push(id);
    });
    return ids;
  }

  /** An upper bound of the non-haystack tokens of a sample (longest keys and passkeys assumed). */
  private longestOverhead(): number {
    const rng = createRng(0);
    let longest = 0;
    // Passkey and key lengths vary a little in tokens: take the worst of a few draws, plus slack.
    for (let i = 0; i < 8; i++) {
      const keys = this.drawKeys(rng);
      const tokens = keys.reduce((sum, key) => {
        const passkey = this.drawPasskey(rng);
        return (
          sum +
          this.encodePieces(this.options.templates.needle, key, passkey).length +
          this.encodePieces(this.options.templates.question, key, passkey).length
        );
      }, 0);
      longest = Math.max(longest, tokens);
    }
    const prefix = this.encodePieces(this.options.templates.prefix, '', '', true).length;
    const suffix = this.encodePieces(this.options.templates.suffix, '', '').length;
    return prefix + suffix + longest + 16 + Math.ceil(longest * 0.1);
  }
}
