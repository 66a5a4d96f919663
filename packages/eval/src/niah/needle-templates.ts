// Needle, question and answer-prefix templates. With `{value}` in the needle, every trial hides a
// fresh random value (a model cannot have memorised it) and is scored by exact match; without it,
// the needle is a fixed sentence (the original's classic NIAH) scored by ROUGE-1 recall.
import { EvalOptionError } from '../errors.js';

/** What goes into a needle-in-a-haystack prompt. */
export interface NeedleTemplates {
  /** Inserted into the haystack. */
  readonly needle: string;
  /** Appended after the haystack. */
  readonly question: string;
  /** Appended after the question: the model continues right after it. */
  readonly answerPrefix: string;
}

/** How trials are scored: exact match of a per-trial value, or ROUGE-1 recall of a fixed needle. */
export type NeedleMode = 'value' | 'classic';

/** The bundled toy model's format (tools/toy-model trains on exactly this shape). */
export const TOY_NEEDLE_TEMPLATES: NeedleTemplates = {
  needle: ' The secret code of the blue door is {value}.',
  question: '\n\nQuestion: What is the secret code of the blue door?\nAnswer:',
  answerPrefix: ' The secret code of the blue door is',
};

/** The original DuoAttention NIAH needle and question (classic mode, for real chat models). */
export const CLASSIC_NEEDLE_TEMPLATES: NeedleTemplates = {
  needle:
    '\n\nRemember, the best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n\n',
  question: '\n\nQuestion: Based on the content of the book, what is the best thing to do in San Francisco?',
  answerPrefix: '\n\nAnswer: The best thing to do in San Francisco is',
};

/** Replaces every `{value}` of `template`. */
export function fillTemplate(template: string, value: string): string {
  return template.split('{value}').join(value);
}

/** The scoring mode of `templates`, after checking they can be scored at all. */
export function needleMode(templates: NeedleTemplates): NeedleMode {
  if (templates.needle.trim() === '') throw new EvalOptionError('the needle template is empty');
  if (templates.question.trim() === '') throw new EvalOptionError('the question template is empty');
  const inNeedle = templates.needle.includes('{value}');
  if (!inNeedle && (templates.question.includes('{value}') || templates.answerPrefix.includes('{value}'))) {
    throw new EvalOptionError(
      'the question or answer prefix uses {value} but the needle has no place for it: put {value} in the needle',
    );
  }
  return inNeedle ? 'value' : 'classic';
}
