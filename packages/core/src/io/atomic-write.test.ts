import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFilesAtomically } from './atomic-write.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-atomic-'));
});
afterEach(async () => rm(root, { recursive: true, force: true }));

describe('writeFilesAtomically', () => {
  it('replaces every file when all writes succeed', async () => {
    await writeFile(join(root, 'a'), 'old a');
    await writeFilesAtomically([
      { path: join(root, 'a'), data: 'new a' },
      { path: join(root, 'b'), data: new Uint8Array([1, 2]) },
    ]);
    expect(await readFile(join(root, 'a'), 'utf8')).toBe('new a');
    expect([...(await readFile(join(root, 'b')))]).toEqual([1, 2]);
    expect((await readdir(root)).sort()).toEqual(['a', 'b']);
  });

  it('changes nothing when a later file cannot be written', async () => {
    await writeFile(join(root, 'a'), 'old a');
    await expect(
      writeFilesAtomically([
        { path: join(root, 'a'), data: 'new a' },
        { path: join(root, 'no-such-dir', 'b'), data: 'b' },
      ]),
    ).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(root, 'a'), 'utf8')).toBe('old a');
    expect(await readdir(root)).toEqual(['a']);
  });
});
