// Writes that never leave a half-written file: data goes to a temporary file beside the target,
// is flushed to disk, and only then renamed over the target (rename is atomic on one filesystem).
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A file prepared by {@link stageFile}: commit renames it into place, discard removes it. */
export interface StagedFile {
  readonly target: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** Writes `data` to a temporary sibling of `target` and flushes it, without touching `target`. */
export async function stageFile(target: string, data: string | Uint8Array): Promise<StagedFile> {
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  return {
    target,
    commit: () => rename(temporary, target),
    discard: () => rm(temporary, { force: true }),
  };
}

/**
 * Writes `data` to `target` atomically: readers see the old file or the new one, never a part, and
 * a failed write (disk full, no permission, a crash) leaves the old file as it was.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const staged = await stageFile(target, data);
  try {
    await staged.commit();
  } catch (error) {
    await staged.discard();
    throw error;
  }
}

/** Stages every file first; renames only once all of them were written, so a failed write changes nothing. */
export async function writeFilesAtomically(
  files: ReadonlyArray<{ path: string; data: string | Uint8Array }>,
): Promise<void> {
  const staged: StagedFile[] = [];
  try {
    for (const file of files) staged.push(await stageFile(file.path, file.data));
  } catch (error) {
    await Promise.all(staged.map((file) => file.discard()));
    throw error;
  }
  for (const file of staged) await file.commit();
}
