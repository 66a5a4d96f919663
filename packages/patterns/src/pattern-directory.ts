// Reading and writing pattern directories (`config.json` + `full_attention_heads.tsv`) in the
// original's exact on-disk format.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFilesAtomically } from '@duo-attn/core';
import { PatternFormatError } from './errors.js';
import { formatGateTable, parseGateTable } from './gate-table.js';
import { type AttentionPattern, assertPatternShape, createPattern } from './pattern.js';
import { pythonJsonDumps } from './python-json.js';

/** File names inside a pattern directory, as the original writes them. */
export const PATTERN_CONFIG_FILE = 'config.json';
export const PATTERN_GATES_FILE = 'full_attention_heads.tsv';

/** Optional checks applied while reading. */
export interface ReadPatternOptions {
  /** Expected layer count of the model the pattern will be used with. */
  readonly numLayers?: number;
  /** Expected KV-head count per layer. */
  readonly numKvHeads?: number;
}

/**
 * Reads a pattern directory. Gates are clipped to [0, 1] into `alpha`; the stored values are kept
 * in `storedAlpha` so {@link writePattern} round-trips byte-identical.
 */
export async function readPattern(
  directory: string,
  options: ReadPatternOptions = {},
): Promise<AttentionPattern> {
  const configFile = join(directory, PATTERN_CONFIG_FILE);
  const gatesFile = join(directory, PATTERN_GATES_FILE);
  const configText = await readText(configFile);
  const config = parseConfig(configText, configFile);
  const sinkSize = readWindowSize(config, 'sink_size', configFile);
  const recentSize = readWindowSize(config, 'recent_size', configFile);
  const alpha = parseGateTable(await readText(gatesFile), gatesFile);
  const pattern = createPattern({ alpha, sinkSize, recentSize, config, configText });
  assertPatternShape(pattern, options, `pattern ${directory}`);
  return pattern;
}

/**
 * Writes a pattern directory (created if missing). Both files are staged first and renamed into
 * place only when both were written, so a failed save leaves any previous pattern intact.
 */
export async function writePattern(directory: string, pattern: AttentionPattern): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFilesAtomically([
    { path: join(directory, PATTERN_CONFIG_FILE), data: configTextFor(pattern) },
    { path: join(directory, PATTERN_GATES_FILE), data: formatGateTable(pattern.storedAlpha) },
  ]);
}

/** config.json as it would be written: the original text if the config is unchanged, else Python-style JSON. */
export function configTextFor(pattern: AttentionPattern): string {
  const config = { ...pattern.config, sink_size: pattern.sinkSize, recent_size: pattern.recentSize };
  if (pattern.configText !== undefined) {
    try {
      if (deepEqual(JSON.parse(pattern.configText), config)) return pattern.configText;
    } catch {
      // Unparseable source text: fall through and serialise the config afresh.
    }
  }
  return pythonJsonDumps(config);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(error)})`;
    throw new PatternFormatError({ file }, problem, { cause: error });
  }
}

function parseConfig(text: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    // Python writes NaN/Infinity literals; JSON.parse does not accept them.
    value = JSON.parse(text.replace(/\bNaN\b|-?\bInfinity\b/g, 'null'));
  } catch (error) {
    throw new PatternFormatError({ file }, `invalid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PatternFormatError({ file }, 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}

function readWindowSize(config: Record<string, unknown>, key: string, file: string): number {
  const value = config[key];
  if (value === undefined) throw new PatternFormatError({ file }, `missing "${key}"`);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new PatternFormatError(
      { file },
      `"${key}" must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) =>
    deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}
