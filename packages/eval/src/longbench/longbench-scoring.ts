// Scoring LongBench predictions as the original's eval.py does: clean the prediction, take the best
// score over the reference answers, average per dataset (LongBench) or per length bucket (LongBench-E).
import { FIRST_LINE_DATASETS, LONGBENCH_METRICS, type LongBenchMetricName } from './longbench-datasets.js';
import { LongBenchDataError } from './longbench-errors.js';
import { jiebaCut } from './metrics/chinese-segmenter.js';
import { classificationScore } from './metrics/classification.js';
import { codeSimilarity } from './metrics/code-similarity.js';
import { countScore, retrievalScore } from './metrics/number-match.js';
import { numpyMean } from './metrics/numpy-mean.js';
import { roundToDigits } from './metrics/python-round.js';
import { pythonStrip } from './metrics/python-text.js';
import { qaF1, qaF1Zh } from './metrics/qa-f1.js';
import { rougeL } from './metrics/rouge-l.js';

/**
 * Where the original's eval.py cuts every prediction (then strips it): the end-of-answer markers
 * pred.py cuts for Llama-3 and Llama-2-32K, applied to all models. Kept for every model and for
 * LongBench-E too, so scores compare with the DuoAttention paper's (whose eval.py skipped them for
 * LongBench-E only).
 */
export const PREDICTION_CUTS: readonly string[] = [
  '.assistant',
  '\n\nQuestion',
  '</s>',
  '(Document',
  '\n\nAnswer',
  '(Passage',
];

/** Dataset-specific cuts of eval.py: where Chinese answers run on into the prompt's next field. */
const DATASET_CUTS: Readonly<Record<string, readonly string[]>> = {
  multifieldqa_zh: ['问题：'],
  dureader: ['问题：'],
  lsht: ['新闻内容：'],
  passage_retrieval_zh: ['请问', '提示'],
};

function cutAt(text: string, marks: readonly string[]): string {
  let out = text;
  for (const mark of marks) {
    const at = out.indexOf(mark);
    if (at !== -1) out = out.slice(0, at);
  }
  return out;
}

/**
 * The prediction eval.py scores: cut at {@link PREDICTION_CUTS} and stripped; for trec, triviaqa,
 * samsum and lsht only the first line after leading newlines; then the dataset's own cuts.
 */
export function cleanPrediction(dataset: string, prediction: string): string {
  let text = pythonStrip(cutAt(prediction, PREDICTION_CUTS));
  if (FIRST_LINE_DATASETS.has(dataset)) text = text.replace(/^\n+/, '').split('\n')[0]!;
  return cutAt(text, DATASET_CUTS[dataset] ?? []);
}

/** One metric on one (prediction, answer) pair, in [0, 1]. */
export function metricScore(
  metric: LongBenchMetricName,
  prediction: string,
  answer: string,
  allClasses: readonly string[] = [],
): number {
  switch (metric) {
    case 'qa_f1':
      return qaF1(prediction, answer);
    case 'qa_f1_zh':
      return qaF1Zh(prediction, answer);
    case 'rouge':
      return rougeL(prediction, answer).f;
    case 'rouge_zh':
      return rougeL(jiebaCut(prediction).join(' '), jiebaCut(answer).join(' ')).f;
    case 'classification':
      return classificationScore(prediction, answer, allClasses);
    case 'retrieval':
      return retrievalScore(prediction, answer, 'en');
    case 'retrieval_zh':
      return retrievalScore(prediction, answer, 'zh');
    case 'count':
      return countScore(prediction, answer);
    case 'code_sim':
      return codeSimilarity(prediction, answer);
  }
}

/** The metric of a dataset; throws {@link LongBenchDataError} for a name LongBench does not have. */
export function datasetMetric(dataset: string): LongBenchMetricName {
  const metric = LONGBENCH_METRICS[dataset];
  if (metric === undefined) {
    throw new LongBenchDataError(
      `unknown LongBench dataset "${dataset}" (known: ${Object.keys(LONGBENCH_METRICS).join(', ')})`,
    );
  }
  return metric;
}

/**
 * A sample's score in [0, 1]: the cleaned prediction's best score over its reference answers (0
 * with no answers).
 */
export function scoreSample(
  dataset: string,
  prediction: string,
  answers: readonly string[],
  allClasses: readonly string[] = [],
): number {
  const metric = datasetMetric(dataset);
  const cleaned = cleanPrediction(dataset, prediction);
  let best = 0;
  for (const answer of answers) best = Math.max(best, metricScore(metric, cleaned, answer, allClasses));
  return best;
}

/**
 * round(100 · Σ / n, 2) with the sum taken left to right, as eval.py's scorer reports a LongBench
 * score (NaN for no samples).
 */
export function percentScore(scores: readonly number[]): number {
  if (scores.length === 0) return Number.NaN;
  let total = 0;
  for (const score of scores) total += score;
  return roundToDigits((100 * total) / scores.length, 2);
}

/** LongBench-E's length buckets (by the sample's `length` field, in words or characters). */
export type LengthBucket = '0-4k' | '4-8k' | '8k+';

/** The bucket of a LongBench-E sample: < 4000, < 8000, else 8k+. */
export function lengthBucket(length: number): LengthBucket {
  return length < 4000 ? '0-4k' : length < 8000 ? '4-8k' : '8k+';
}

/**
 * Per-bucket percent scores of LongBench-E: round(100 · np.mean(scores), 2), with numpy's pairwise
 * summation as eval.py's scorer_e has it (NaN where a bucket has no sample, as there).
 */
export function bucketScores(
  samples: readonly { length: number; score: number }[],
): Record<LengthBucket, number> {
  const buckets: Record<LengthBucket, number[]> = { '0-4k': [], '4-8k': [], '8k+': [] };
  for (const sample of samples) buckets[lengthBucket(sample.length)].push(sample.score);
  const percent = (scores: readonly number[]) => roundToDigits(100 * numpyMean(scores), 2);
  return {
    '0-4k': percent(buckets['0-4k']),
    '4-8k': percent(buckets['4-8k']),
    '8k+': percent(buckets['8k+']),
  };
}
