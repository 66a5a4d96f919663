// @duo-attn/eval: evaluation of DuoAttention models: haystack text, needle-retrieval grids, LongBench
// (official metrics, prompts, resumable runs) and efficiency benchmarks.

export type {
  CapacityBenchmarkOptions,
  CapacityDecode,
  CapacityMeasured,
  CapacityRow,
} from './bench/capacity-benchmark.js';
export { benchmarkCapacity } from './bench/capacity-benchmark.js';
export type { CapacityCombination } from './bench/capacity-combinations.js';
export { capacityCombinations, unsupportedReason } from './bench/capacity-combinations.js';
export type { CapacityPlan, CapacityPlanOptions } from './bench/capacity-plan.js';
export { DEFAULT_HEADROOM_FRACTION, planCapacity, plannedWeightDtype } from './bench/capacity-plan.js';
export type { DecodeBenchmarkOptions, DecodeMeasurement } from './bench/decode-benchmark.js';
export { benchmarkDecode } from './bench/decode-benchmark.js';
export type {
  LargestFitting,
  LargestFittingSearchOptions,
  ProbeOutcome,
  ProbeRecord,
} from './bench/largest-fitting-search.js';
export { searchLargestFitting } from './bench/largest-fitting-search.js';
export type { ModelShapeName } from './bench/model-shapes.js';
export { isModelShapeName, MODEL_SHAPES } from './bench/model-shapes.js';
export { isOutOfMemoryError } from './bench/out-of-memory.js';
export type { PrefillBenchmarkOptions, PrefillMeasurement } from './bench/prefill-benchmark.js';
export { benchmarkPrefill } from './bench/prefill-benchmark.js';
export { EvalOptionError } from './errors.js';
export { HaystackError, readHaystackDirectory } from './haystack/haystack-directory.js';
export type { HaystackOptions } from './haystack/haystack-generator.js';
export { generateHaystack, haystackParagraphs, PARAGRAPH_SEPARATOR } from './haystack/haystack-generator.js';
export { writeHaystackCorpus } from './haystack/write-corpus.js';
export type { LongBenchFile, LongBenchSample } from './longbench/longbench-data.js';
export { longBenchFileName, readLongBenchFile } from './longbench/longbench-data.js';
export type { LongBenchMetricName } from './longbench/longbench-datasets.js';
export {
  FIRST_LINE_DATASETS,
  isLongBenchDataset,
  LONGBENCH_DATASETS,
  LONGBENCH_E_DATASETS,
  LONGBENCH_METRICS,
  UNTEMPLATED_DATASETS,
} from './longbench/longbench-datasets.js';
export { LongBenchDataError, LongBenchResumeError } from './longbench/longbench-errors.js';
export type { LongBenchPrompt, LongBenchPromptOptions } from './longbench/longbench-prompt.js';
export { buildLongBenchPrompt } from './longbench/longbench-prompt.js';
export type { LongBenchRecord, LongBenchSettings } from './longbench/longbench-results-file.js';
export { LongBenchResultsFile, settingsPathOf } from './longbench/longbench-results-file.js';
export type {
  LongBenchFileRun,
  LongBenchPromptSettings,
  LongBenchRunOptions,
} from './longbench/longbench-run.js';
export {
  DEFAULT_STEPWISE_PROMPT_TAIL,
  measureLongBenchPrompts,
  runLongBenchFile,
} from './longbench/longbench-run.js';
export type { LengthBucket } from './longbench/longbench-scoring.js';
export {
  bucketScores,
  cleanPrediction,
  datasetMetric,
  lengthBucket,
  metricScore,
  PREDICTION_CUTS,
  percentScore,
  scoreSample,
} from './longbench/longbench-scoring.js';
export type { LongBenchScoreRow } from './longbench/longbench-summary.js';
export { formatLongBenchMarkdown, scoreLongBenchRecords } from './longbench/longbench-summary.js';
export type { LongBenchTables } from './longbench/longbench-tables.js';
export { findLongBenchTables, readLongBenchTables } from './longbench/longbench-tables.js';
export { jiebaCut } from './longbench/metrics/chinese-segmenter.js';
export { classificationScore } from './longbench/metrics/classification.js';
export { codeSimilarity, firstCodeLine, fuzzRatio } from './longbench/metrics/code-similarity.js';
export { countScore, paragraphId, retrievalScore } from './longbench/metrics/number-match.js';
export { numpyMean } from './longbench/metrics/numpy-mean.js';
export { roundHalfEven, roundToDigits } from './longbench/metrics/python-round.js';
export { normalizeAnswer, normalizeZhAnswer, qaF1, qaF1Zh, tokenF1 } from './longbench/metrics/qa-f1.js';
export type { RougeLScore } from './longbench/metrics/rouge-l.js';
export { rougeL } from './longbench/metrics/rouge-l.js';
export type { SimilarityMatcher } from './longbench/metrics/sequence-matcher.js';
export { similarityRatio } from './longbench/metrics/sequence-matcher.js';
export { checkPromptTemplate, fillPromptTemplate, templateFields } from './longbench/prompt-template.js';
export { writeToyLongBench } from './longbench/toy-longbench.js';
export type { NeedlePrompt, NeedlePromptParts } from './niah/needle-prompt.js';
export { buildNeedlePrompt, NeedlePromptError } from './niah/needle-prompt.js';
export type { NeedleMode, NeedleTemplates } from './niah/needle-templates.js';
export {
  CLASSIC_NEEDLE_TEMPLATES,
  fillTemplate,
  needleMode,
  TOY_NEEDLE_TEMPLATES,
} from './niah/needle-templates.js';
export type {
  HaystackSource,
  NeedleCell,
  NeedleGridOptions,
  NeedleGridRun,
  NeedleTrial,
  NeedleTrialRecord,
  PreparedNeedleGrid,
  RunNeedleOptions,
} from './niah/needle-trials.js';
export { fixedHaystackIds, prepareNeedleGrid, runNeedleGrid, sentenceEnds } from './niah/needle-trials.js';
export type { RetrievalTrialOptions, RetrievalTrialResult } from './niah/retrieval-trial.js';
export { runRetrievalTrial } from './niah/retrieval-trial.js';
export type { ChartSeries, LineChartOptions } from './plots/line-chart.js';
export { renderLineChartSvg } from './plots/line-chart.js';
export { containsValue } from './scoring/exact-match.js';
export { porterStem } from './scoring/porter-stemmer.js';
export type { RougeOptions, RougeScore } from './scoring/rouge.js';
export { rouge1, rougeTokens } from './scoring/rouge.js';
