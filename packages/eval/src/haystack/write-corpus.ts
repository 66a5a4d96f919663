// Writes a haystack corpus file for training a retrieval model, atomically: readers never see a
// half-written corpus, and a failed run leaves any earlier corpus in place.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '@duo-attn/core';
import { EvalOptionError } from '../errors.js';
import { generateHaystack } from './haystack-generator.js';

/**
 * Writes `generateHaystack(chars, { seed })` (UTF-8, which is ASCII here; no trailing newline) to
 * `file`, creating its folder. Data goes to a temporary sibling, is flushed, then renamed over `file`.
 */
export async function writeHaystackCorpus(file: string, chars: number, seed = 0): Promise<void> {
  if (typeof file !== 'string' || file.length === 0)
    throw new EvalOptionError('writeHaystackCorpus: file must be a non-empty path');
  const text = generateHaystack(chars, { seed });
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, text);
}
