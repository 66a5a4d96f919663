// ROUGE-1 exactly as Google's `rouge_score` computes it (tokenizer, stemming threshold, multiset
// overlap, F-measure), because the NIAH score of the original is 10 × ROUGE-1 F1(needle, response).
import { EvalOptionError } from '../errors.js';
import { porterStem } from './porter-stemmer.js';

/** Options of {@link rougeTokens} and {@link rouge1}. */
export interface RougeOptions {
  /** Porter-stem tokens longer than 3 characters (`use_stemmer=True` in rouge_score). Default true. */
  readonly stem?: boolean;
}

/** Precision, recall and F1 of one ROUGE comparison, each in [0, 1]. */
export interface RougeScore {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

const NON_ALPHANUMERIC_RUN = /[^a-z0-9]+/g;
const WHITESPACE_RUN = /\s+/;
const VALID_TOKEN = /^[a-z0-9]+$/;

function requireText(value: unknown, what: string): string {
  if (typeof value !== 'string')
    throw new EvalOptionError(`rouge: ${what} must be a string, got ${typeof value}`);
  return value;
}

/**
 * Tokenises like `rouge_score.tokenize.tokenize`: lower-case, every run of characters outside
 * [a-z0-9] becomes one space (so non-ASCII letters split words: "café" → "caf"), split on
 * whitespace, Porter-stem tokens of more than 3 characters when `stem` is on (default), drop empty
 * tokens. Tokens of 3 characters or fewer are never stemmed ("was" stays, "this" → "thi").
 */
export function rougeTokens(text: string, options: RougeOptions = {}): string[] {
  const lowered = requireText(text, 'text').toLowerCase().replace(NON_ALPHANUMERIC_RUN, ' ');
  const stem = options.stem ?? true;
  const tokens: string[] = [];
  for (const piece of lowered.split(WHITESPACE_RUN)) {
    const token = stem && piece.length > 3 ? porterStem(piece) : piece;
    if (VALID_TOKEN.test(token)) tokens.push(token);
  }
  return tokens;
}

function countTokens(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  return counts;
}

/**
 * ROUGE-1 of `prediction` against `reference` as `RougeScorer(['rouge1'], use_stemmer=stem)
 * .score(reference, prediction)`: overlap = Σ over unigrams of min(count in reference, count in
 * prediction); precision = overlap / max(#prediction tokens, 1); recall = overlap /
 * max(#reference tokens, 1); f1 = 2·P·R / (P + R), or 0 when P + R = 0 (so empty texts score 0).
 */
export function rouge1(reference: string, prediction: string, options: RougeOptions = {}): RougeScore {
  const referenceTokens = rougeTokens(requireText(reference, 'reference'), options);
  const predictionTokens = rougeTokens(requireText(prediction, 'prediction'), options);
  const referenceCounts = countTokens(referenceTokens);
  const predictionCounts = countTokens(predictionTokens);
  let overlap = 0;
  for (const [token, count] of referenceCounts) overlap += Math.min(count, predictionCounts.get(token) ?? 0);
  const precision = overlap / Math.max(predictionTokens.length, 1);
  const recall = overlap / Math.max(referenceTokens.length, 1);
  // Same operation order as rouge_score's scoring.fmeasure, so the double is bit-identical.
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}
