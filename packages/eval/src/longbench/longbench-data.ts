// LongBench and LongBench-E data files (the official JSONL release, one sample per line), read from a
// directory the user gives: nothing is downloaded. Every sample is checked before any model runs.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LONGBENCH_METRICS } from './longbench-datasets.js';
import { LongBenchDataError } from './longbench-errors.js';
import { paragraphId } from './metrics/number-match.js';

/** One LongBench sample. */
export interface LongBenchSample {
  /** `_id` of the official files, or `line-N` when a file has none. */
  readonly id: string;
  readonly input: string;
  readonly context: string;
  readonly answers: readonly string[];
  /** Class names of trec and lsht (null elsewhere). */
  readonly allClasses: readonly string[] | null;
  /** The sample's length (words, or characters for Chinese), which LongBench-E buckets by. */
  readonly length: number;
  /** Every field of the line, for the prompt template. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The samples of one file, with the file's SHA-256 (results record which data they came from). */
export interface LongBenchFile {
  readonly dataset: string;
  readonly longbenchE: boolean;
  readonly path: string;
  readonly sha256: string;
  readonly samples: readonly LongBenchSample[];
}

/** `<dataset>.jsonl`, or `<dataset>_e.jsonl` for LongBench-E. */
export function longBenchFileName(dataset: string, longbenchE: boolean): string {
  return `${dataset}${longbenchE ? '_e' : ''}.jsonl`;
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function parseSample(line: string, where: string, dataset: string, lineNumber: number): LongBenchSample {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new LongBenchDataError(`${where}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LongBenchDataError(`${where}: a sample must be a JSON object`);
  }
  const fields = value as Record<string, unknown>;
  const { input, context, answers, length } = fields;
  const allClasses = fields.all_classes ?? null;
  if (typeof input !== 'string') throw new LongBenchDataError(`${where}: "input" must be a string`);
  if (typeof context !== 'string') throw new LongBenchDataError(`${where}: "context" must be a string`);
  if (!isStringList(answers)) throw new LongBenchDataError(`${where}: "answers" must be a list of strings`);
  if (typeof length !== 'number' || !Number.isFinite(length) || length < 0) {
    throw new LongBenchDataError(`${where}: "length" must be a number >= 0`);
  }
  if (allClasses !== null && !isStringList(allClasses)) {
    throw new LongBenchDataError(`${where}: "all_classes" must be null or a list of strings`);
  }
  const metric = LONGBENCH_METRICS[dataset];
  if (metric === 'classification' && allClasses === null) {
    throw new LongBenchDataError(`${where}: ${dataset} is scored by class names, but "all_classes" is null`);
  }
  if (metric === 'retrieval' || metric === 'retrieval_zh') {
    for (const answer of answers) {
      try {
        paragraphId(answer, metric === 'retrieval' ? 'en' : 'zh');
      } catch (error) {
        throw new LongBenchDataError(`${where}: ${(error as Error).message}`);
      }
    }
  }
  const id = fields._id === undefined ? `line-${lineNumber}` : fields._id;
  if (typeof id !== 'string' || id.length === 0)
    throw new LongBenchDataError(`${where}: "_id" must be a non-empty string`);
  return { id, input, context, answers, allClasses, length, fields };
}

/**
 * Reads `<dir>/<dataset>[_e].jsonl`. Throws {@link LongBenchDataError} naming the file and line for
 * a missing file, a line that is not a JSON object, a missing or mistyped field (input, context,
 * answers, length, all_classes), a retrieval answer without its paragraph number, or a repeated `_id`.
 */
export async function readLongBenchFile(
  dir: string,
  dataset: string,
  longbenchE = false,
): Promise<LongBenchFile> {
  const path = join(dir, longBenchFileName(dataset, longbenchE));
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new LongBenchDataError(
      code === 'ENOENT'
        ? `no data file ${path}`
        : `cannot read ${path} (${code ?? (error as Error).message})`,
    );
  }
  const samples: LongBenchSample[] = [];
  const ids = new Set<string>();
  bytes
    .toString('utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.trim().length === 0) return;
      const where = `${path}:${index + 1}`;
      const sample = parseSample(line, where, dataset, index + 1);
      if (ids.has(sample.id)) throw new LongBenchDataError(`${where}: "_id" ${sample.id} occurs twice`);
      ids.add(sample.id);
      samples.push(sample);
    });
  if (samples.length === 0) throw new LongBenchDataError(`${path} has no samples`);
  return { dataset, longbenchE, path, sha256: createHash('sha256').update(bytes).digest('hex'), samples };
}
