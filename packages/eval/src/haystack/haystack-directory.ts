// Loads a NIAH haystack from a directory of .txt files (e.g. PaulGrahamEssays), in a fixed file
// order so a run is reproducible on any filesystem (the original used unsorted glob order).
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuoError } from '@duo-attn/core';

/** A haystack directory or one of its files cannot be used; `path` names the culprit. */
export class HaystackError extends DuoError {
  /** The directory or file at fault. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('E_HAYSTACK', message, options);
    this.name = 'HaystackError';
    this.path = path;
  }
}

/** Orders strings by Unicode code point (JS `<` compares UTF-16 units, which misorders astral characters). */
function compareCodePoints(a: string, b: string): number {
  const left = Array.from(a, (c) => c.codePointAt(0) as number);
  const right = Array.from(b, (c) => c.codePointAt(0) as number);
  const shared = Math.min(left.length, right.length);
  for (let i = 0; i < shared; i += 1) {
    const difference = (left[i] as number) - (right[i] as number);
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** True for a regular file, or a symbolic link that resolves to one. */
async function isRegularFile(dir: string, entry: Dirent): Promise<boolean> {
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return (await stat(join(dir, entry.name))).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads a haystack directory: every regular file (or link to one) directly in `dir` whose name
 * ends with ".txt" (case-sensitive) and does not start with "." (like Python's `glob('*.txt')`),
 * sorted by code-point order of the name ("B.txt" < "a10.txt" < "a2.txt" < "b.txt"); each is
 * decoded as strict UTF-8 (a byte-order mark is kept, as Python's "utf-8" codec does), CRLF and
 * lone CR become LF (Python text-mode universal newlines), and the texts are concatenated with no
 * separator, exactly as the original appends file contents.
 *
 * @returns the concatenated haystack text (UTF-16 JS string, LF line ends only).
 * @throws HaystackError (code E_HAYSTACK) naming the path when the directory is missing,
 *   unreadable or not a directory, holds no .txt file, or a file is unreadable or not valid UTF-8.
 */
export async function readHaystackDirectory(dir: string): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new HaystackError(String(dir), 'readHaystackDirectory: dir must be a non-empty path');
  let entries: Dirent[];
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new HaystackError(dir, `haystack path is not a directory: ${dir}`);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (error instanceof HaystackError) throw error;
    const code = errorCode(error);
    const what = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`;
    throw new HaystackError(dir, `haystack directory ${what}: ${dir}`, { cause: error });
  }

  const names: string[] = [];
  for (const entry of entries) {
    if (!entry.name.endsWith('.txt') || entry.name.startsWith('.')) continue;
    if (await isRegularFile(dir, entry)) names.push(entry.name);
  }
  if (names.length === 0) throw new HaystackError(dir, `haystack directory has no .txt files: ${dir}`);
  names.sort(compareCodePoints);

  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const parts: string[] = [];
  for (const name of names) {
    const file = join(dir, name);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (error) {
      throw new HaystackError(
        file,
        `haystack file cannot be read (${errorCode(error) ?? String(error)}): ${file}`,
        {
          cause: error,
        },
      );
    }
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch (error) {
      throw new HaystackError(file, `haystack file is not valid UTF-8: ${file}`, { cause: error });
    }
    parts.push(text.replace(/\r\n?/g, '\n'));
  }
  return parts.join('');
}
