// Token-id lists given on the command line (`1,2,3`) or in a file (commas, whitespace or JSON array).
import { readFile } from 'node:fs/promises';
import { UsageError } from './cli-args.js';

/** Parses `1,2,3` (whitespace allowed); names the option and the bad element. */
export function parseIdList(text: string, option: string): number[] {
  const trimmed = text.trim();
  const body = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  const parts = body.split(/[\s,]+/).filter((part) => part !== '');
  if (parts.length === 0) throw new UsageError(`${option} is empty`);
  return parts.map((part, index) => {
    const value = Number(part);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new UsageError(`${option}: element ${index} ("${part}") is not a non-negative integer`);
    }
    return value;
  });
}

/** Reads an id list from a file. */
export async function readIdFile(file: string, option: string): Promise<number[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `${option}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  return parseIdList(text, `${option} ${file}`);
}
