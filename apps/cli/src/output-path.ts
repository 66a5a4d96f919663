// Output paths are checked before any work: a long NIAH grid or benchmark must never run for minutes
// and then fail to save. Each check proves the location writable by creating (and removing) a probe
// file there, because permission bits alone do not say so (root, read-only mounts, ACLs).
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DuoError } from '@duo-attn/core';

/** An output path cannot be written; `path` and `option` say which and where it was given. */
export class OutputPathError extends DuoError {
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('E_OUTPUT_PATH', message, options);
    this.name = 'OutputPathError';
    this.path = path;
  }
}

function codeOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Plain words for the errno values an output path meets. */
function reason(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the filesystem is read-only';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'ENOENT':
      return 'a part of the path does not exist';
    default:
      return code ?? 'unknown error';
  }
}

type PathKind = 'file' | 'directory' | 'missing' | 'under-file' | 'other';

async function kindOf(path: string): Promise<PathKind> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? 'directory' : info.isFile() ? 'file' : 'other';
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return 'missing';
    if (codeOf(error) === 'ENOTDIR') return 'under-file';
    throw new OutputPathError(path, `cannot use ${path} (${reason(codeOf(error))})`, { cause: error });
  }
}

/** Creates and removes a probe file in `dir`; throws {@link OutputPathError} if that fails. */
async function probe(dir: string, option: string, given: string): Promise<void> {
  const file = join(dir, `.duo-write-probe-${randomBytes(6).toString('hex')}`);
  try {
    const handle = await open(file, 'wx');
    await handle.close();
    await rm(file, { force: true });
  } catch (error) {
    throw new OutputPathError(
      given,
      `${option} ${given}: cannot write in ${dir} (${reason(codeOf(error))})`,
      { cause: error },
    );
  }
}

/**
 * Makes sure `given` is (or can become) a writable directory: creates it (and its parents) now and
 * proves a file can be written there. Throws {@link OutputPathError} naming the option, the path
 * and the reason (an existing file, no permission, a read-only filesystem) before any work starts.
 * @returns the absolute path.
 */
export async function prepareOutputDirectory(given: string, option = '--out'): Promise<string> {
  const dir = resolve(given);
  const kind = await kindOf(dir);
  if (kind === 'file' || kind === 'other') {
    throw new OutputPathError(given, `${option} ${given} exists and is not a directory`);
  }
  if (kind === 'under-file') {
    throw new OutputPathError(given, `${option} ${given}: cannot create it (${reason('ENOTDIR')})`);
  }
  if (kind === 'missing') {
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      throw new OutputPathError(given, `${option} ${given}: cannot create it (${reason(codeOf(error))})`, {
        cause: error,
      });
    }
  }
  await probe(dir, option, given);
  return dir;
}

/**
 * Makes sure the file `given` can be written: not a directory, its folder existing (created now if
 * missing) and writable. Nothing is written to `given` itself.
 * @returns the absolute path.
 */
export async function prepareOutputFile(given: string, option = '--out'): Promise<string> {
  const file = resolve(given);
  const kind = await kindOf(file);
  if (kind === 'directory') throw new OutputPathError(given, `${option} ${given} is a directory, not a file`);
  if (kind === 'other') throw new OutputPathError(given, `${option} ${given} cannot be written as a file`);
  if (kind === 'under-file') {
    throw new OutputPathError(given, `${option} ${given}: cannot create it (${reason('ENOTDIR')})`);
  }
  await prepareOutputDirectory(dirname(file), `${option} ${basename(given)} in`);
  return file;
}
