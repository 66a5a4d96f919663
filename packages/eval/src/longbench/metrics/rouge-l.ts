// ROUGE-L F as LongBench computes it with the `rouge` package (pltrdy, 1.0.x): summary-level union
// LCS over sentences split on ".", set-based ("exclusive") counts, no lower-casing, no stemming.
import { pythonSplit } from './python-text.js';

/** Precision, recall and F of one ROUGE-L comparison. */
export interface RougeLScore {
  readonly precision: number;
  readonly recall: number;
  readonly f: number;
}

const ZERO: RougeLScore = { precision: 0, recall: 0, f: 0 };

/** Sentences as the package makes them: split on ".", empty pieces dropped, whitespace collapsed. */
function sentencesOf(text: string): string[] {
  return text
    .split('.')
    .filter((piece) => piece.length > 0)
    .map((piece) => pythonSplit(piece).join(' '));
}

/** Words of a sentence: split on single spaces (a whitespace-only sentence is one empty word). */
function wordsOf(sentence: string): string[] {
  return sentence.split(' ');
}

/**
 * The distinct words of the LCS of `reference` and `hypothesis` that the package reconstructs:
 * back from the end, a match is taken when the words are equal, otherwise the step goes up (drops a
 * reference word) when that keeps a strictly longer LCS, else left. Which LCS is picked decides the
 * word set, so the tie rule is the package's. Iterative: the package recurses and fails (score 0)
 * once |reference| + |hypothesis| nears Python's recursion limit of 1000.
 */
function lcsWords(reference: readonly string[], hypothesis: readonly string[]): Set<string> {
  const rows = reference.length + 1;
  const columns = hypothesis.length + 1;
  const table = new Int32Array(rows * columns);
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < columns; j++) {
      table[i * columns + j] =
        reference[i - 1] === hypothesis[j - 1]
          ? table[(i - 1) * columns + j - 1]! + 1
          : Math.max(table[(i - 1) * columns + j]!, table[i * columns + j - 1]!);
    }
  }
  const words = new Set<string>();
  let i = reference.length;
  let j = hypothesis.length;
  while (i > 0 && j > 0) {
    if (reference[i - 1] === hypothesis[j - 1]) {
      words.add(reference[i - 1]!);
      i--;
      j--;
    } else if (table[(i - 1) * columns + j]! > table[i * columns + j - 1]!) i--;
    else j--;
  }
  return words;
}

/**
 * ROUGE-L of `prediction` against `reference` (`Rouge().get_scores(prediction, reference)["rouge-l"]`):
 * LCS words are pooled over every (reference sentence, prediction sentence) pair as a set; with m and
 * n the distinct words of reference and prediction, R = |pool| / m, P = |pool| / n and
 * F = 2PR / (P + R + 1e-8). A text with no sentence (empty, or only ".") scores 0, where the package
 * raises and LongBench catches it as 0.
 */
export function rougeL(prediction: string, reference: string): RougeLScore {
  const hypothesisSentences = sentencesOf(prediction);
  const referenceSentences = sentencesOf(reference);
  if (hypothesisSentences.length === 0 || referenceSentences.length === 0) return ZERO;
  const hypothesisWords = hypothesisSentences.map(wordsOf);
  const m = new Set(referenceSentences.flatMap(wordsOf)).size;
  const n = new Set(hypothesisWords.flat()).size;
  const pooled = new Set<string>();
  for (const sentence of referenceSentences) {
    const words = wordsOf(sentence);
    for (const hypothesis of hypothesisWords)
      for (const word of lcsWords(words, hypothesis)) pooled.add(word);
  }
  const recall = pooled.size / m;
  const precision = pooled.size / n;
  return { precision, recall, f: 2.0 * ((precision * recall) / (precision + recall + 1e-8)) };
}
