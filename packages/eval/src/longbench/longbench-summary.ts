// The result table of a LongBench run: per policy and dataset, the percent score (LongBench) or the
// score per length bucket (LongBench-E), as JSON rows and as a markdown table.
import type { LongBenchRecord } from './longbench-results-file.js';
import {
  bucketScores,
  datasetMetric,
  type LengthBucket,
  percentScore,
  scoreSample,
} from './longbench-scoring.js';
import { roundToDigits } from './metrics/python-round.js';

/** One (policy, dataset) cell of the table. */
export interface LongBenchScoreRow {
  readonly policy: string;
  readonly dataset: string;
  readonly metric: string;
  readonly longbenchE: boolean;
  /** Samples scored. */
  readonly samples: number;
  /** round(100 · mean score, 2); NaN without samples. */
  readonly score: number;
  /** LongBench-E only: the same per length bucket. */
  readonly buckets?: Readonly<Record<LengthBucket, number>>;
}

/**
 * Scores a file's records (each prediction re-scored from its text, so the table always reflects
 * the current metrics) into one row.
 */
export function scoreLongBenchRecords(
  policy: string,
  dataset: string,
  longbenchE: boolean,
  records: readonly LongBenchRecord[],
): LongBenchScoreRow {
  const scored = records.map((record) => ({
    length: record.length,
    score: scoreSample(dataset, record.pred, record.answers, record.all_classes ?? []),
  }));
  return {
    policy,
    dataset,
    metric: datasetMetric(dataset),
    longbenchE,
    samples: scored.length,
    score: percentScore(scored.map((entry) => entry.score)),
    ...(longbenchE ? { buckets: bucketScores(scored) } : {}),
  };
}

const BUCKETS: readonly LengthBucket[] = ['0-4k', '4-8k', '8k+'];

function cell(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? '–' : value.toFixed(2);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Markdown tables: LongBench rows as datasets × policies with an average row (the mean of the
 * dataset scores, as LongBench reports it); LongBench-E rows as (dataset, policy) × length buckets.
 */
export function formatLongBenchMarkdown(rows: readonly LongBenchScoreRow[]): string {
  const policies = [...new Set(rows.map((row) => row.policy))];
  const parts: string[] = [];
  const standard = rows.filter((row) => !row.longbenchE);
  if (standard.length > 0) {
    const datasets = [...new Set(standard.map((row) => row.dataset))];
    const find = (dataset: string, policy: string) =>
      standard.find((row) => row.dataset === dataset && row.policy === policy);
    const body = datasets.map((dataset) => [
      dataset,
      find(dataset, policies.find((policy) => find(dataset, policy)) ?? '')?.metric ?? '',
      String(Math.max(...policies.map((policy) => find(dataset, policy)?.samples ?? 0))),
      ...policies.map((policy) => cell(find(dataset, policy)?.score)),
    ]);
    if (datasets.length > 1) {
      body.push([
        '**average**',
        '',
        '',
        ...policies.map((policy) => {
          const scores = datasets.map((dataset) => find(dataset, policy)?.score ?? Number.NaN);
          return scores.some(Number.isNaN)
            ? '–'
            : cell(roundToDigits(scores.reduce((a, b) => a + b, 0) / scores.length, 2));
        }),
      ]);
    }
    parts.push(table(['dataset', 'metric', 'samples', ...policies], body));
  }
  const e = rows.filter((row) => row.longbenchE);
  if (e.length > 0) {
    parts.push(
      table(
        ['dataset (LongBench-E)', 'policy', 'samples', ...BUCKETS, 'all'],
        e.map((row) => [
          row.dataset,
          row.policy,
          String(row.samples),
          ...BUCKETS.map((bucket) => cell(row.buckets?.[bucket])),
          cell(row.score),
        ]),
      ),
    );
  }
  return `${parts.join('\n\n')}\n`;
}
