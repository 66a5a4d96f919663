// LongBench's code_sim score (lcc, repobench-p): fuzzywuzzy's ratio between the first code line of
// the prediction and the reference line.
import { roundHalfEven } from './python-round.js';
import { type SimilarityMatcher, similarityRatio } from './sequence-matcher.js';

/**
 * fuzzywuzzy's `fuzz.ratio(a, b)`: 100 for equal strings (two empty ones too), 0 when either is
 * empty, else round(100 · ratio) with Python's half-to-even rounding.
 */
export function fuzzRatio(a: string, b: string, matcher: SimilarityMatcher = 'difflib'): number {
  if (a === b) return 100;
  if (a.length === 0 || b.length === 0) return 0;
  return roundHalfEven(100 * similarityRatio(a, b, matcher));
}

/**
 * The line code_sim compares: leading newlines dropped, then the first line that contains none of
 * "`", "#" and "//" (anywhere in the line, not only at its start); '' when every line has one.
 */
export function firstCodeLine(prediction: string): string {
  const lines = prediction.replace(/^\n+/, '').split('\n');
  return lines.find((line) => !line.includes('`') && !line.includes('#') && !line.includes('//')) ?? '';
}

/** code_sim_score = fuzz.ratio(first code line, answer) / 100. */
export function codeSimilarity(
  prediction: string,
  answer: string,
  matcher: SimilarityMatcher = 'difflib',
): number {
  return fuzzRatio(firstCodeLine(prediction), answer, matcher) / 100;
}
