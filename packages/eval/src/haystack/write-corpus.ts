// Writes a haystack corpus file for training a retrieval model, atomically: readers never see a
// half-written corpus, and a failed run leaves any earlier corpus in place.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
  const folder = dirname(file);
  await mkdir(folder, { recursive: true });
  const temporary = join(folder, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    await handle.close();
    await rename(temporary, file);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
}
