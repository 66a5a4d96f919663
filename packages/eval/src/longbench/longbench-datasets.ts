// The LongBench datasets and how each is scored (the official eval.py's dataset-to-metric table), and
// which ones are few-shot or code completions that are never wrapped in a chat template.

/** The metrics of LongBench; each scores one prediction against one reference answer in [0, 1]. */
export type LongBenchMetricName =
  | 'qa_f1'
  | 'qa_f1_zh'
  | 'rouge'
  | 'rouge_zh'
  | 'classification'
  | 'retrieval'
  | 'retrieval_zh'
  | 'count'
  | 'code_sim';

/** The 21 LongBench datasets in the order of the original's scripts, with their metric. */
export const LONGBENCH_METRICS: Readonly<Record<string, LongBenchMetricName>> = {
  narrativeqa: 'qa_f1',
  qasper: 'qa_f1',
  multifieldqa_en: 'qa_f1',
  multifieldqa_zh: 'qa_f1_zh',
  hotpotqa: 'qa_f1',
  '2wikimqa': 'qa_f1',
  musique: 'qa_f1',
  dureader: 'rouge_zh',
  gov_report: 'rouge',
  qmsum: 'rouge',
  multi_news: 'rouge',
  vcsum: 'rouge_zh',
  trec: 'classification',
  triviaqa: 'qa_f1',
  samsum: 'rouge',
  lsht: 'classification',
  passage_count: 'count',
  passage_retrieval_en: 'retrieval',
  passage_retrieval_zh: 'retrieval_zh',
  lcc: 'code_sim',
  'repobench-p': 'code_sim',
};

/** Every LongBench dataset name. */
export const LONGBENCH_DATASETS: readonly string[] = Object.keys(LONGBENCH_METRICS);

/** The 13 datasets of LongBench-E (length-balanced; files `<name>_e.jsonl`). */
export const LONGBENCH_E_DATASETS: readonly string[] = [
  'qasper',
  'multifieldqa_en',
  'hotpotqa',
  '2wikimqa',
  'gov_report',
  'multi_news',
  'trec',
  'triviaqa',
  'samsum',
  'passage_count',
  'passage_retrieval_en',
  'lcc',
  'repobench-p',
];

/** Few-shot and code datasets: their prompts continue a pattern, so no chat template wraps them. */
export const UNTEMPLATED_DATASETS: ReadonlySet<string> = new Set([
  'trec',
  'triviaqa',
  'samsum',
  'lsht',
  'lcc',
  'repobench-p',
]);

/** Datasets whose prediction is scored on its first line only (the model tends to go on with more examples). */
export const FIRST_LINE_DATASETS: ReadonlySet<string> = new Set(['trec', 'triviaqa', 'samsum', 'lsht']);

/** True for a name in {@link LONGBENCH_METRICS}. */
export function isLongBenchDataset(name: string): boolean {
  return Object.hasOwn(LONGBENCH_METRICS, name);
}
