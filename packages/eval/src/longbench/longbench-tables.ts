// LongBench's tables, read at run time from a directory (the original's config/ files; this repo's
// ../shared/data/longbench has them): dataset2prompt.json (prompt templates), dataset2maxlen.json
// (answer lengths in tokens) and, optional, model2maxlen.json (prompt truncation length per model).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LongBenchDataError } from './longbench-errors.js';
import { checkPromptTemplate } from './prompt-template.js';

/** The three tables, keyed by dataset (prompts, answer lengths) or model name (prompt lengths). */
export interface LongBenchTables {
  /** Directory they were read from. */
  readonly dir: string;
  /** dataset2prompt.json: template with {context} and {input} (Python str.format syntax). */
  readonly prompts: Readonly<Record<string, string>>;
  /** dataset2maxlen.json: most tokens generated per answer. */
  readonly maxNewTokens: Readonly<Record<string, number>>;
  /** model2maxlen.json (empty when absent): prompt tokens kept, by model directory name. */
  readonly modelMaxLength: Readonly<Record<string, number>>;
}

const PROMPTS = 'dataset2prompt.json';
const MAX_NEW_TOKENS = 'dataset2maxlen.json';
const MODEL_MAX_LENGTH = 'model2maxlen.json';

async function readObject(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new LongBenchDataError(
      code === 'ENOENT' ? `no ${file}` : `cannot read ${file} (${code ?? (error as Error).message})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LongBenchDataError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LongBenchDataError(`${file} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function positiveIntegers(file: string, object: Record<string, unknown>): Record<string, number> {
  for (const [key, value] of Object.entries(object)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new LongBenchDataError(
        `${file}: "${key}" must be a positive integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  return object as Record<string, number>;
}

/**
 * Reads the tables in `dir`. Throws {@link LongBenchDataError} naming the file and key for a missing
 * file, invalid JSON, a non-string template (or one Python's str.format would reject) or a length
 * that is not a positive integer.
 */
export async function readLongBenchTables(dir: string): Promise<LongBenchTables> {
  const root = resolve(dir);
  const promptsFile = join(root, PROMPTS);
  const prompts = await readObject(promptsFile);
  for (const [dataset, template] of Object.entries(prompts)) {
    if (typeof template !== 'string') {
      throw new LongBenchDataError(`${promptsFile}: "${dataset}" must be a string template`);
    }
    checkPromptTemplate(template, `${promptsFile}: "${dataset}"`);
  }
  const lengthsFile = join(root, MAX_NEW_TOKENS);
  const maxNewTokens = positiveIntegers(lengthsFile, await readObject(lengthsFile));
  const modelFile = join(root, MODEL_MAX_LENGTH);
  const modelMaxLength = existsSync(modelFile)
    ? positiveIntegers(modelFile, await readObject(modelFile))
    : {};
  return { dir: root, prompts: prompts as Record<string, string>, maxNewTokens, modelMaxLength };
}

/** Environment variable naming the shared data directory (its data/longbench has the tables). */
export const SHARED_DIR_ENV = 'DUO_SHARED_DIR';

/**
 * Where the tables are when none is named: `dataDir` itself when it holds dataset2prompt.json, then
 * `$DUO_SHARED_DIR/data/longbench`, then `shared/data/longbench` beside this package or any folder
 * above it (a checkout's `../shared`). Throws {@link LongBenchDataError} listing every place tried.
 */
export function findLongBenchTables(dataDir?: string): string {
  const searched: string[] = [];
  const candidates: string[] = [];
  if (dataDir !== undefined) candidates.push(resolve(dataDir));
  const shared = process.env[SHARED_DIR_ENV];
  if (shared) candidates.push(join(resolve(shared), 'data', 'longbench'));
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    candidates.push(join(dir, 'shared', 'data', 'longbench'));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const candidate of candidates) {
    searched.push(candidate);
    if (existsSync(join(candidate, PROMPTS))) return candidate;
  }
  throw new LongBenchDataError(
    `no LongBench tables (${PROMPTS}, ${MAX_NEW_TOKENS}) found; give their directory (the original's config/). Looked in: ${searched.join(', ')}`,
  );
}
