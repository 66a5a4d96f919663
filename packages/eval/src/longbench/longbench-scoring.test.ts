import { describe, expect, it } from 'vitest';
import { LONGBENCH_DATASETS, LONGBENCH_E_DATASETS, LONGBENCH_METRICS } from './longbench-datasets.js';
import { LongBenchDataError } from './longbench-errors.js';
import {
  bucketScores,
  cleanPrediction,
  datasetMetric,
  lengthBucket,
  percentScore,
  scoreSample,
} from './longbench-scoring.js';

describe('the dataset tables', () => {
  it("maps the 21 datasets to eval.py's metrics", () => {
    expect(LONGBENCH_DATASETS).toHaveLength(21);
    const byMetric: Record<string, string[]> = {};
    for (const [dataset, metric] of Object.entries(LONGBENCH_METRICS)) {
      byMetric[metric] = [...(byMetric[metric] ?? []), dataset];
    }
    expect(byMetric).toEqual({
      qa_f1: ['narrativeqa', 'qasper', 'multifieldqa_en', 'hotpotqa', '2wikimqa', 'musique', 'triviaqa'],
      qa_f1_zh: ['multifieldqa_zh'],
      rouge_zh: ['dureader', 'vcsum'],
      rouge: ['gov_report', 'qmsum', 'multi_news', 'samsum'],
      classification: ['trec', 'lsht'],
      count: ['passage_count'],
      retrieval: ['passage_retrieval_en'],
      retrieval_zh: ['passage_retrieval_zh'],
      code_sim: ['lcc', 'repobench-p'],
    });
    expect(LONGBENCH_E_DATASETS).toHaveLength(13);
    for (const dataset of LONGBENCH_E_DATASETS) expect(LONGBENCH_METRICS[dataset]).toBeDefined();
  });

  it('names the known datasets when given an unknown one', () => {
    expect(() => datasetMetric('narrative_qa')).toThrow(LongBenchDataError);
    expect(() => datasetMetric('narrative_qa')).toThrow(
      /unknown LongBench dataset "narrative_qa" \(known: narrativeqa, /,
    );
  });
});

describe('cleanPrediction', () => {
  it("cuts every model's prediction at the original's end markers and strips it (kept for all models: the paper's numbers were scored so)", () => {
    expect(cleanPrediction('hotpotqa', ' Paris\n\nQuestion: and Rome?')).toBe('Paris');
    expect(cleanPrediction('hotpotqa', 'Paris.assistant\n\nMore')).toBe('Paris');
    expect(cleanPrediction('narrativeqa', 'He left. (Document 3) says')).toBe('He left.');
    expect(cleanPrediction('narrativeqa', 'yes</s>')).toBe('yes');
    expect(cleanPrediction('gov_report', '  A summary.\n\nAnswer: x')).toBe('A summary.');
  });

  it('keeps the first line for trec, triviaqa, samsum and lsht, after leading newlines', () => {
    expect(cleanPrediction('samsum', 'Anna will come.\nDialogue: next')).toBe('Anna will come.');
    expect(cleanPrediction('trec', 'Animal\nQuestion: What')).toBe('Animal');
    expect(cleanPrediction('triviaqa', 'Paris\nParis')).toBe('Paris');
    expect(cleanPrediction('hotpotqa', 'Paris\nFrance')).toBe('Paris\nFrance');
  });

  it("applies the Chinese datasets' own cuts", () => {
    expect(cleanPrediction('multifieldqa_zh', '北京问题：上海')).toBe('北京');
    expect(cleanPrediction('dureader', '答案问题：下一个')).toBe('答案');
    expect(cleanPrediction('lsht', '体育新闻内容：某某')).toBe('体育');
    expect(cleanPrediction('passage_retrieval_zh', '段落3请问提示')).toBe('段落3');
  });

  it('leaves an empty prediction empty', () => {
    expect(cleanPrediction('samsum', '')).toBe('');
    expect(cleanPrediction('lcc', '\n')).toBe('');
  });
});

describe('scoreSample', () => {
  it('is the best score over the answers, after cleaning', () => {
    expect(scoreSample('hotpotqa', 'Paris\n\nQuestion: x', ['London', 'Paris'])).toBe(1);
    expect(scoreSample('trec', 'Food\nAnimal', ['Animal'], ['Animal', 'Food'])).toBe(0);
    expect(scoreSample('passage_count', 'There are 3', ['3'])).toBe(1);
    expect(scoreSample('hotpotqa', 'Paris', [])).toBe(0);
  });
});

describe('aggregate scores', () => {
  it('percentScore is round(100 · mean, 2), NaN with no samples', () => {
    expect(percentScore([1, 0, 0])).toBe(33.33);
    expect(percentScore([0.5, 0.25])).toBe(37.5);
    // 100 · (0.12125 + 0.12125) / 2 = 12.125 exactly: Python rounds the tie to 12.12.
    expect(percentScore([0.12125, 0.12125])).toBe(12.12);
    expect(percentScore([])).toBeNaN();
  });

  it('buckets LongBench-E samples by length: < 4000, < 8000, the rest', () => {
    expect([0, 3999, 4000, 7999, 8000, 20000].map(lengthBucket)).toEqual([
      '0-4k',
      '0-4k',
      '4-8k',
      '4-8k',
      '8k+',
      '8k+',
    ]);
    const buckets = bucketScores([
      { length: 100, score: 1 },
      { length: 200, score: 0 },
      { length: 9000, score: 0.5 },
    ]);
    expect(buckets['0-4k']).toBe(50);
    expect(buckets['4-8k']).toBeNaN();
    expect(buckets['8k+']).toBe(50);
  });
});
