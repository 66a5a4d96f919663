// LongBench's qa_f1 (English) and qa_f1_zh: token-level F1 between a prediction and one reference
// answer after SQuAD-style normalisation (English) or jieba segmentation (Chinese).
import { jiebaCut } from './chinese-segmenter.js';
import { ASCII_PUNCTUATION, pythonSplit, removeCharacters } from './python-text.js';

const ENGLISH_PUNCTUATION = new Set(ASCII_PUNCTUATION);
/**
 * The punctuation normalize_zh_answer removes: ASCII plus LongBench's list of CJK and typographic
 * marks. The list has "》" but not "《" (kept as in the original, so scores match).
 */
const CHINESE_PUNCTUATION = new Set(
  `${ASCII_PUNCTUATION}！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.`,
);
/**
 * Whole-word a/an/the, as Python's `\b(a|an|the)\b`: Python's word characters are Unicode letters,
 * digits and "_", so "a" in "éa" is not a word (JS `\b` is ASCII-only and would remove it).
 */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * LongBench's normalize_answer: lower-case, delete ASCII punctuation, replace whole-word a/an/the
 * by a space, collapse whitespace.
 */
export function normalizeAnswer(text: string): string {
  const stripped = removeCharacters(text.toLowerCase(), ENGLISH_PUNCTUATION);
  return pythonSplit(stripped.replace(ARTICLES, ' ')).join(' ');
}

/** LongBench's normalize_zh_answer: lower-case, delete ASCII and CJK punctuation, delete all whitespace. */
export function normalizeZhAnswer(text: string): string {
  return pythonSplit(removeCharacters(text.toLowerCase(), CHINESE_PUNCTUATION)).join('');
}

/**
 * F1 of two token lists by multiset overlap: 0 when nothing overlaps (so an empty prediction scores
 * 0), else 2PR / (P + R) with P = overlap / |prediction|, R = overlap / |reference|.
 */
export function tokenF1(prediction: readonly string[], reference: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const token of reference) counts.set(token, (counts.get(token) ?? 0) + 1);
  let same = 0;
  for (const token of prediction) {
    const left = counts.get(token) ?? 0;
    if (left > 0) {
      same++;
      counts.set(token, left - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / prediction.length;
  const recall = same / reference.length;
  return (2 * precision * recall) / (precision + recall);
}

/** qa_f1: F1 over the whitespace tokens of the normalised prediction and answer. */
export function qaF1(prediction: string, answer: string): number {
  return tokenF1(pythonSplit(normalizeAnswer(prediction)), pythonSplit(normalizeAnswer(answer)));
}

/** qa_f1_zh: F1 over jieba tokens, each normalised; tokens that normalise to nothing are dropped. */
export function qaF1Zh(prediction: string, answer: string): number {
  const tokens = (text: string) =>
    jiebaCut(text)
      .map(normalizeZhAnswer)
      .filter((token) => token.length > 0);
  return tokenF1(tokens(prediction), tokens(answer));
}
