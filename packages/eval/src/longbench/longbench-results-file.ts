// A resumable LongBench results file: one JSONL line per finished sample, in the original's format
// (pred, answers, all_classes, length) plus the sample id, its score and how it was generated. The
// settings it was made with sit beside it (<name>.settings.json); a run resumes into it only with
// the same settings. Every write replaces the whole file atomically, so an interrupted or failed
// write leaves the samples finished before it, never half a line.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@duo-attn/core';
import { LongBenchResumeError } from './longbench-errors.js';

/** One finished sample, as written. */
export interface LongBenchRecord {
  readonly _id: string;
  /** The generated answer, special tokens skipped, not yet cleaned (scoring cleans it). */
  readonly pred: string;
  readonly answers: readonly string[];
  readonly all_classes: readonly string[] | null;
  readonly length: number;
  /** The sample's score in [0, 1] (see `scoreSample`). */
  readonly score: number;
  readonly prompt_tokens: number;
  readonly truncated_tokens: number;
  readonly finish_reason: string;
}

/** JSON-able settings a results file belongs to; compared key by key when resuming. */
export type LongBenchSettings = Readonly<Record<string, unknown>>;

/** `<x>.jsonl` → `<x>.settings.json`. */
export function settingsPathOf(resultsPath: string): string {
  return `${resultsPath.replace(/\.jsonl$/, '')}.settings.json`;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The settings that differ, as "key: <there> there, <now> now". */
function differences(saved: Record<string, unknown>, current: LongBenchSettings): string[] {
  const keys = [...new Set([...Object.keys(current), ...Object.keys(saved)])];
  return keys
    .filter((key) => JSON.stringify(saved[key]) !== JSON.stringify(current[key]))
    .map((key) => `${key}: ${describe(saved[key])} there, ${describe(current[key])} now`);
}

function parseRecord(line: string, where: string): LongBenchRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new LongBenchResumeError(`${where} is not a JSON line of a results file`);
  }
  const record = value as Partial<LongBenchRecord> | null;
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof record._id !== 'string' ||
    typeof record.pred !== 'string' ||
    !Array.isArray(record.answers) ||
    typeof record.score !== 'number'
  ) {
    throw new LongBenchResumeError(`${where} is not a results line (needs _id, pred, answers and score)`);
  }
  return record as LongBenchRecord;
}

/** The finished samples of one (dataset, policy) run, kept on disk as they finish. */
export class LongBenchResultsFile {
  readonly path: string;
  private readonly records: LongBenchRecord[];
  private readonly ids: Set<string>;

  private constructor(path: string, records: LongBenchRecord[]) {
    this.path = path;
    this.records = records;
    this.ids = new Set(records.map((record) => record._id));
  }

  /**
   * Opens `path` for `settings`: an existing file is resumed when its settings file holds the same
   * settings, and refused with a {@link LongBenchResumeError} naming every setting that differs (or
   * saying its settings file is missing or its lines are not results). A new file starts empty; its
   * settings are written now, before any sample.
   */
  static async open(path: string, settings: LongBenchSettings): Promise<LongBenchResultsFile> {
    const settingsPath = settingsPathOf(path);
    const records: LongBenchRecord[] = [];
    if (existsSync(path)) {
      if (!existsSync(settingsPath)) {
        throw new LongBenchResumeError(
          `${path} exists without ${settingsPath}, so its settings are unknown; move it away or delete it to start over`,
        );
      }
      let saved: unknown;
      try {
        saved = JSON.parse(await readFile(settingsPath, 'utf8'));
      } catch {
        throw new LongBenchResumeError(`${settingsPath} is not valid JSON; move ${path} away or delete both`);
      }
      const changed = differences((saved ?? {}) as Record<string, unknown>, settings);
      if (changed.length > 0) {
        throw new LongBenchResumeError(
          `${path} holds results of other settings (${changed.join('; ')}); use another output directory, or delete it to start over`,
        );
      }
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines.forEach((line, index) => {
        if (line.trim().length > 0) records.push(parseRecord(line, `${path}:${index + 1}`));
      });
    } else {
      await writeFileAtomic(settingsPath, `${JSON.stringify(settings, null, 2)}\n`);
    }
    return new LongBenchResultsFile(path, records);
  }

  /** Finished samples, in the order they finished. */
  get finished(): readonly LongBenchRecord[] {
    return this.records;
  }

  /** Whether the sample with this id is finished. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Adds a finished sample and rewrites the file atomically. */
  async add(record: LongBenchRecord): Promise<void> {
    if (this.ids.has(record._id))
      throw new LongBenchResumeError(`${this.path} already has sample ${record._id}`);
    const text = [...this.records, record].map((entry) => `${JSON.stringify(entry)}\n`).join('');
    await writeFileAtomic(this.path, text);
    this.records.push(record);
    this.ids.add(record._id);
  }
}
