// LongBench's retrieval (passage_retrieval_en/zh) and count (passage_count) scores: the share of the
// numbers in the prediction that equal the expected one.
import { LongBenchDataError } from '../longbench-errors.js';

/** Python's `\d+` on str: runs of Unicode decimal digits (so "１２" and "١٢" are numbers too). */
const DIGIT_RUN = /\p{Nd}+/gu;

/**
 * Numbers in `prediction` that equal `expected` as strings (so "01" is not "1"), divided by all the
 * numbers in it; 0 when it has none.
 */
export function numberShare(prediction: string, expected: string): number {
  const numbers = prediction.match(DIGIT_RUN) ?? [];
  if (numbers.length === 0) return 0.0;
  return numbers.filter((number) => number === expected).length / numbers.length;
}

const PARAGRAPH_ID = { en: /Paragraph (\p{Nd}+)/u, zh: /段落(\p{Nd}+)/u } as const;

/**
 * The paragraph number of a retrieval answer: the first "Paragraph N" (English) or "段落N" (Chinese).
 * Throws {@link LongBenchDataError} when the answer has none (the original crashes with IndexError).
 */
export function paragraphId(answer: string, language: 'en' | 'zh'): string {
  const match = PARAGRAPH_ID[language].exec(answer);
  if (match === null) {
    const form = language === 'en' ? '"Paragraph N"' : '"段落N"';
    throw new LongBenchDataError(
      `a retrieval answer must contain ${form}, got ${JSON.stringify(answer.slice(0, 80))}`,
    );
  }
  return match[1]!;
}

/** retrieval_score / retrieval_zh_score. */
export function retrievalScore(prediction: string, answer: string, language: 'en' | 'zh'): number {
  return numberShare(prediction, paragraphId(answer, language));
}

/** count_score: the answer is the number itself. */
export function countScore(prediction: string, answer: string): number {
  return numberShare(prediction, answer);
}
