// A LongBench prompt in model tokens: the dataset's template filled with the sample, wrapped in the
// model's chat template (except few-shot and code datasets), and cut in the middle to the maximum
// length, so the instructions at the start and the question at the end survive.
import type { Tokenizer } from '@duo-attn/core';
import { UNTEMPLATED_DATASETS } from './longbench-datasets.js';
import { LongBenchDataError } from './longbench-errors.js';
import { pythonStrip } from './metrics/python-text.js';

/** How to build prompts. */
export interface LongBenchPromptOptions {
  /** Most prompt tokens, chat template and BOS included. */
  readonly maxLength: number;
  /** Wrap prompts in the model's chat template when it has one (default true). */
  readonly chatTemplate?: boolean;
}

/** A prompt ready for the engine. */
export interface LongBenchPrompt {
  readonly ids: number[];
  /** Tokens cut from the middle of the filled template (0 when it fit). */
  readonly truncatedTokens: number;
  /** Whether the chat template wraps it. */
  readonly templated: boolean;
}

/** Keeps the first ⌊budget/2⌋ and the last ⌈budget/2⌉ ids. */
function cutMiddle(ids: readonly number[], budget: number): number[] {
  if (ids.length <= budget) return [...ids];
  const head = Math.floor(budget / 2);
  return [...ids.slice(0, head), ...ids.slice(ids.length - (budget - head))];
}

const MARK = 'DUOLONGBENCHPROMPTMARK';

/** The chat template's text before and after the user message, and whether it trims the message. */
function templateFrame(tokenizer: Tokenizer): { before: string; after: string; trims: boolean } {
  const render = (content: string) =>
    tokenizer.applyChatTemplate([{ role: 'user', content }], { addGenerationPrompt: true });
  const rendered = render(MARK);
  const at = rendered.indexOf(MARK);
  if (at === -1 || rendered.indexOf(MARK, at + 1) !== -1) {
    throw new LongBenchDataError(
      "the model's chat template does not place the user message once, as written; run without the chat template",
    );
  }
  return {
    before: rendered.slice(0, at),
    after: rendered.slice(at + MARK.length),
    trims: !render(` ${MARK} `).includes(` ${MARK} `),
  };
}

/**
 * Tokenizes a filled LongBench prompt for `dataset`. With a chat template (the model has one,
 * `chatTemplate` is not false and the dataset is not few-shot or code), the message is tokenized
 * apart from the template's frame, so the cut happens in the message's own tokens and the frame
 * stays whole; otherwise the text is tokenized with the tokenizer's special tokens (BOS). When longer
 * than `maxLength`, its middle goes: the first ⌊n/2⌋ and the last ⌈n/2⌉ tokens of the n that fit stay.
 *
 * The original cuts the raw prompt (BOS included) to 2·⌊max/2⌋ tokens, decodes both halves to text
 * and tokenizes again, so its length drifts by a few tokens; here the cut is exact.
 */
export function buildLongBenchPrompt(
  tokenizer: Tokenizer,
  dataset: string,
  text: string,
  options: LongBenchPromptOptions,
): LongBenchPrompt {
  const { maxLength } = options;
  if (!Number.isSafeInteger(maxLength) || maxLength < 2) {
    throw new LongBenchDataError(`the maximum prompt length must be an integer >= 2, got ${maxLength}`);
  }
  const templated =
    (options.chatTemplate ?? true) && tokenizer.hasChatTemplate && !UNTEMPLATED_DATASETS.has(dataset);
  if (!templated) {
    const ids = tokenizer.encode(text);
    return {
      ids: cutMiddle(ids, maxLength),
      truncatedTokens: Math.max(0, ids.length - maxLength),
      templated,
    };
  }
  const frame = templateFrame(tokenizer);
  const encode = (part: string) => tokenizer.encode(part, { addSpecialTokens: false });
  const before = encode(frame.before);
  const after = encode(frame.after);
  const message = encode(frame.trims ? pythonStrip(text) : text);
  const budget = maxLength - before.length - after.length;
  if (budget < 2) {
    throw new LongBenchDataError(
      `a ${maxLength}-token prompt leaves no room for the message inside the chat template (${before.length + after.length} tokens)`,
    );
  }
  return {
    ids: [...before, ...cutMiddle(message, budget), ...after],
    truncatedTokens: Math.max(0, message.length - budget),
    templated,
  };
}
