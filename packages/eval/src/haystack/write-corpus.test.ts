import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EvalOptionError } from '../errors.js';
import { generateHaystack } from './haystack-generator.js';
import { writeHaystackCorpus } from './write-corpus.js';

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'duo-haystack-'));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('writeHaystackCorpus', () => {
  it('writes exactly the generated text for the seed and leaves no temporary file', async () => {
    const file = join(folder, 'haystack.txt');
    await writeHaystackCorpus(file, 50_000, 4);
    expect(await readFile(file, 'utf8')).toBe(generateHaystack(50_000, { seed: 4 }));
    expect(await readdir(folder)).toEqual(['haystack.txt']);
  });

  it('uses seed 0 by default, replaces an existing file and creates missing folders', async () => {
    const file = join(folder, 'nested', 'deeper', 'corpus.txt');
    await mkdir(join(folder, 'nested', 'deeper'), { recursive: true });
    await writeFile(file, 'old content');
    await writeHaystackCorpus(file, 5000);
    expect(await readFile(file, 'utf8')).toBe(generateHaystack(5000, { seed: 0 }));
    await writeHaystackCorpus(join(folder, 'fresh', 'corpus.txt'), 100, 1);
    expect(await readFile(join(folder, 'fresh', 'corpus.txt'), 'utf8')).toBe(
      generateHaystack(100, { seed: 1 }),
    );
  });

  it('cleans up its temporary file when the final rename fails', async () => {
    const target = join(folder, 'taken');
    await mkdir(join(target, 'child'), { recursive: true });
    await expect(writeHaystackCorpus(target, 1000, 2)).rejects.toThrow();
    expect(await readdir(folder)).toEqual(['taken']);
  });

  it('rejects an empty path and a bad length before touching the disk', async () => {
    await expect(writeHaystackCorpus('', 10)).rejects.toThrow(EvalOptionError);
    await expect(writeHaystackCorpus(join(folder, 'x.txt'), -5)).rejects.toThrow(EvalOptionError);
    expect(await readdir(folder)).toEqual([]);
  });
});
