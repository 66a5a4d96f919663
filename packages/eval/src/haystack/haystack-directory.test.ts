// Haystack directory loading: file selection and order, newline normalisation, typed errors, and
// the real PaulGrahamEssays set when the shared data folder is present.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuoError } from '@duo-attn/core';
import { sharedDataPath } from '@duo-attn/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HaystackError, readHaystackDirectory } from './haystack-directory.js';

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'duo-haystack-dir-'));
});

afterEach(async () => {
  await chmod(folder, 0o700).catch(() => {});
  await rm(folder, { recursive: true, force: true });
});

async function expectHaystackError(promise: Promise<unknown>, path: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(HaystackError);
  expect(DuoError.isInstance(error)).toBe(true);
  const haystackError = error as HaystackError;
  expect(haystackError.code).toBe('E_HAYSTACK');
  expect(haystackError.path).toBe(path);
  expect(haystackError.message).toMatch(message);
  expect(haystackError.message).toContain(path);
}

describe('readHaystackDirectory', () => {
  it('concatenates .txt files in code-point order of their names, with no separator', async () => {
    await writeFile(join(folder, 'b.txt'), 'B');
    await writeFile(join(folder, 'a10.txt'), 'A10');
    await writeFile(join(folder, 'a2.txt'), 'A2');
    await writeFile(join(folder, 'B.txt'), 'upper');
    await writeFile(join(folder, '_.txt'), 'underscore');
    // Code points: 'B' 0x42 < '_' 0x5f < 'a' 0x61 < 'b' 0x62; within "a…", '1' 0x31 < '2' 0x32.
    expect(await readHaystackDirectory(folder)).toBe('upper' + 'underscore' + 'A10' + 'A2' + 'B');
  });

  it('orders astral-plane names by code point, not by UTF-16 unit', async () => {
    // U+FF5E (fullwidth tilde) < U+1F600 (emoji) by code point, but the emoji's lead surrogate
    // 0xD83D sorts before 0xFF5E in a plain JS string comparison.
    await writeFile(join(folder, '\u{1F600}.txt'), 'emoji');
    await writeFile(join(folder, '\uFF5E.txt'), 'tilde');
    expect('\u{1F600}.txt' < '\uFF5E.txt').toBe(true);
    expect(await readHaystackDirectory(folder)).toBe('tildeemoji');
  });

  it('normalises CRLF and lone CR to LF and keeps everything else verbatim', async () => {
    await writeFile(join(folder, '1-crlf.txt'), 'one\r\ntwo\r\n');
    await writeFile(join(folder, '2-cr.txt'), 'three\rfour\r\r\n');
    await writeFile(join(folder, '3-lf.txt'), 'five\n\nsix  \t€ — naïve');
    await writeFile(join(folder, '4-cr-end.txt'), 'seven\r');
    await writeFile(join(folder, '5-lf-start.txt'), '\neight');
    const text = await readHaystackDirectory(folder);
    // Files are normalised one by one, so a CR ending one file and an LF opening the next stay two
    // line breaks, as when Python reads each file in text mode.
    expect(text).toBe('one\ntwo\n' + 'three\nfour\n\n' + 'five\n\nsix  \t€ — naïve' + 'seven\n' + '\neight');
    expect(text).not.toContain('\r');
  });

  it('keeps a UTF-8 byte-order mark, like Python\'s "utf-8" codec', async () => {
    await writeFile(join(folder, 'bom.txt'), Buffer.from([0xef, 0xbb, 0xbf, 0x68, 0x69]));
    expect(await readHaystackDirectory(folder)).toBe('\uFEFFhi');
  });

  it('reads only non-hidden regular *.txt files (or links to them) directly in the directory', async () => {
    await writeFile(join(folder, 'a.txt'), 'a');
    await writeFile(join(folder, '.hidden.txt'), 'hidden');
    await writeFile(join(folder, 'upper.TXT'), 'upper-case extension');
    await writeFile(join(folder, 'notes.md'), 'markdown');
    await writeFile(join(folder, 'a.txt.bak'), 'backup');
    await mkdir(join(folder, 'dir.txt'));
    await mkdir(join(folder, 'sub'));
    await writeFile(join(folder, 'sub', 'nested.txt'), 'nested');
    await symlink(join(folder, 'a.txt'), join(folder, 'link.txt'));
    await symlink(join(folder, 'missing'), join(folder, 'dangling.txt'));
    expect(await readHaystackDirectory(folder)).toBe('a' + 'a');
  });

  it('names a file that is not valid UTF-8', async () => {
    await writeFile(join(folder, 'good.txt'), 'fine');
    await writeFile(join(folder, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    await expectHaystackError(readHaystackDirectory(folder), join(folder, 'latin1.txt'), /not valid UTF-8/);
  });

  it('rejects a missing directory, a file path, an empty path and a directory without .txt files', async () => {
    const missing = join(folder, 'nope');
    await expectHaystackError(readHaystackDirectory(missing), missing, /does not exist/);
    const file = join(folder, 'plain.txt');
    await writeFile(file, 'x');
    await expectHaystackError(readHaystackDirectory(file), file, /not a directory/);
    const empty = join(folder, 'empty');
    await mkdir(empty);
    await expectHaystackError(readHaystackDirectory(empty), empty, /no \.txt files/);
    await writeFile(join(empty, 'readme.md'), 'x');
    await expectHaystackError(readHaystackDirectory(empty), empty, /no \.txt files/);
    await expect(readHaystackDirectory('')).rejects.toThrow(HaystackError);
  });

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  it.skipIf(isRoot)('rejects an unreadable directory and names an unreadable file', async () => {
    const locked = join(folder, 'locked');
    await mkdir(locked);
    await writeFile(join(locked, 'a.txt'), 'a');
    await chmod(locked, 0o000);
    try {
      await expectHaystackError(readHaystackDirectory(locked), locked, /cannot be read/);
    } finally {
      await chmod(locked, 0o700);
    }
    await chmod(join(locked, 'a.txt'), 0o000);
    await expectHaystackError(readHaystackDirectory(locked), join(locked, 'a.txt'), /cannot be read/);
  });
});

const essays = sharedDataPath('needle/PaulGrahamEssays', 'readHaystackDirectory on PaulGrahamEssays');

describe.skipIf(essays === undefined)('readHaystackDirectory on PaulGrahamEssays', () => {
  it('reads 49 essays, drops the CRs of worked.txt and nothing else', async () => {
    const dir = essays as string;
    const names = (await readdir(dir)).filter((name) => name.endsWith('.txt'));
    expect(names).toHaveLength(49);
    let totalLength = 0;
    for (const name of names) totalLength += (await readFile(join(dir, name), 'utf8')).length;
    const worked = await readFile(join(dir, 'worked.txt'), 'utf8');
    const crlfPairs = worked.split('\r\n').length - 1;
    expect(crlfPairs).toBeGreaterThan(0);

    const text = await readHaystackDirectory(dir);
    expect(text).not.toContain('\r');
    expect(text.length).toBe(totalLength - crlfPairs);
    const first = await readFile(join(dir, 'addiction.txt'), 'utf8');
    expect(text.startsWith(first)).toBe(true);
    expect(text.endsWith(worked.replaceAll('\r\n', '\n'))).toBe(true);
  });
});
