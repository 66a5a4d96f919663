// The metrics against numbers computed by the libraries the original uses (jieba 0.42.1, rouge 1.0.1,
// difflib, fuzzywuzzy on python-Levenshtein), from tools/longbench/make_metric_reference.py.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricScore } from '../longbench-scoring.js';
import { fuzzRatio } from './code-similarity.js';
import { similarityRatio } from './sequence-matcher.js';

interface ReferenceCase {
  kind: 'en' | 'zh' | 'code';
  prediction: string;
  answer: string;
  [metric: string]: number | string;
}

const { cases } = JSON.parse(
  readFileSync(new URL('../__fixtures__/metric-reference.json', import.meta.url), 'utf8'),
) as { cases: ReferenceCase[] };

describe('metrics against the Python libraries (exact doubles)', () => {
  it('has cases of every kind', () => {
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['en', 'zh', 'code']));
  });

  for (const kind of ['en', 'zh', 'code'] as const) {
    it(`${kind}: every value is identical`, () => {
      const mismatches: string[] = [];
      for (const c of cases.filter((entry) => entry.kind === kind)) {
        const ours: Record<string, number> =
          kind === 'en'
            ? {
                qa_f1: metricScore('qa_f1', c.prediction, c.answer),
                rouge: metricScore('rouge', c.prediction, c.answer),
              }
            : kind === 'zh'
              ? {
                  qa_f1_zh: metricScore('qa_f1_zh', c.prediction, c.answer),
                  rouge_zh: metricScore('rouge_zh', c.prediction, c.answer),
                }
              : {
                  difflib_ratio: similarityRatio(c.prediction, c.answer),
                  levenshtein_ratio: similarityRatio(c.prediction, c.answer, 'levenshtein'),
                  fuzz_ratio_levenshtein: fuzzRatio(c.prediction, c.answer, 'levenshtein'),
                };
        for (const [metric, value] of Object.entries(ours)) {
          if (value !== c[metric]) {
            mismatches.push(
              `${metric}(${JSON.stringify(c.prediction)}, ${JSON.stringify(c.answer)}) = ${value}, Python ${c[metric]}`,
            );
          }
        }
      }
      expect(mismatches).toEqual([]);
    });
  }
});
