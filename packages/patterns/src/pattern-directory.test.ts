import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuoError } from '@duo-attn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PatternFormatError, PatternShapeError } from './errors.js';
import { generatePattern } from './generate-pattern.js';
import { createPattern } from './pattern.js';
import { configTextFor, readPattern, writePattern } from './pattern-directory.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-pattern-dir-'));
});
afterEach(async () => rm(root, { recursive: true, force: true }));

async function makeDir(config: string, tsv: string): Promise<string> {
  const dir = join(root, `p${Math.random().toString(36).slice(2)}`);
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), config);
  await writeFile(join(dir, 'full_attention_heads.tsv'), tsv);
  return dir;
}

const CONFIG = '{"sink_size": 4, "recent_size": 8, "lr": 0.02}';

async function expectFormatError(
  dir: string,
  pattern: RegExp,
  location: { file: string; line?: number; column?: number },
) {
  const error = await readPattern(dir).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PatternFormatError);
  expect(DuoError.isInstance(error)).toBe(true);
  expect((error as Error).message).toMatch(pattern);
  expect((error as PatternFormatError).location).toMatchObject({
    ...location,
    file: join(dir, location.file),
  });
}

describe('readPattern / writePattern', () => {
  it('reads gates, clips them and keeps the stored values', async () => {
    const dir = await makeDir(CONFIG, '1.0\t-0.001\n0.5\t1.5\n');
    const pattern = await readPattern(dir);
    expect(pattern.alpha).toEqual([
      [1, 0],
      [0.5, 1],
    ]);
    expect(pattern.storedAlpha).toEqual([
      [1, -0.001],
      [0.5, 1.5],
    ]);
    expect(pattern).toMatchObject({ numLayers: 2, numKvHeads: 2, sinkSize: 4, recentSize: 8 });
    expect(pattern.config.lr).toBe(0.02);
  });

  it('round-trips its own output byte-identical and writes numpy format', async () => {
    const pattern = generatePattern({ numLayers: 3, numKvHeads: 4, seed: 5 });
    await writePattern(join(root, 'a'), pattern);
    const reread = await readPattern(join(root, 'a'));
    await writePattern(join(root, 'b'), reread);
    for (const file of ['config.json', 'full_attention_heads.tsv']) {
      expect(await readFile(join(root, 'b', file), 'utf8')).toBe(
        await readFile(join(root, 'a', file), 'utf8'),
      );
    }
    const tsv = await readFile(join(root, 'a', 'full_attention_heads.tsv'), 'utf8');
    expect(tsv.split('\n')).toHaveLength(4);
    expect(tsv).toMatch(/^(-?\d\.\d{18}e[+-]\d\d[\t\n])+$/);
  });

  it('accepts CRLF line ends', async () => {
    const dir = await makeDir(CONFIG, '1\t0\r\n0\t1\r\n');
    expect((await readPattern(dir)).alpha).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });

  it('re-serialises config.json Python-style when the config changed', () => {
    const pattern = createPattern({
      alpha: [[1]],
      sinkSize: 2,
      recentSize: 3,
      config: { lr: 1e-5, name: 'é' },
      configText: '{}',
    });
    expect(configTextFor(pattern)).toBe('{"lr": 1e-05, "name": "\\u00e9", "sink_size": 2, "recent_size": 3}');
  });

  it('validates shape against a model', async () => {
    const dir = await makeDir(CONFIG, '1\t0\n0\t1\n');
    await expect(readPattern(dir, { numLayers: 2, numKvHeads: 2 })).resolves.toBeDefined();
    await expect(readPattern(dir, { numLayers: 32 })).rejects.toThrow(PatternShapeError);
    await expect(readPattern(dir, { numLayers: 3, numKvHeads: 8 })).rejects.toThrow(
      /2 layers where the model has 3 and 2 KV heads/,
    );
  });

  it('names file, line and column of bad input', async () => {
    await expectFormatError(await makeDir(CONFIG, '1\t0\n0\t1\t1\n'), /row has 3 values but line 1 has 2/, {
      file: 'full_attention_heads.tsv',
      line: 2,
    });
    await expectFormatError(
      await makeDir(CONFIG, '1\t0\n0\tabc\n'),
      /:2:2: expected a finite number, found "abc"/,
      {
        file: 'full_attention_heads.tsv',
        line: 2,
        column: 2,
      },
    );
    await expectFormatError(await makeDir(CONFIG, '1\tnan\n'), /:1:2: .*"nan"/, {
      file: 'full_attention_heads.tsv',
      line: 1,
      column: 2,
    });
    await expectFormatError(await makeDir(CONFIG, '1\t\n'), /an empty cell/, {
      file: 'full_attention_heads.tsv',
      line: 1,
      column: 2,
    });
    await expectFormatError(await makeDir(CONFIG, '1\n\n1\n'), /blank line/, {
      file: 'full_attention_heads.tsv',
      line: 2,
    });
    await expectFormatError(await makeDir(CONFIG, ''), /empty/, { file: 'full_attention_heads.tsv' });
    await expectFormatError(
      await makeDir('{"sink_size": -1, "recent_size": 8}', '1\n'),
      /"sink_size" must be a non-negative integer/,
      {
        file: 'config.json',
      },
    );
    await expectFormatError(await makeDir('{"sink_size": 4}', '1\n'), /missing "recent_size"/, {
      file: 'config.json',
    });
    await expectFormatError(await makeDir('{"sink_size": 4', '1\n'), /invalid JSON/, { file: 'config.json' });
    await expectFormatError(await makeDir('[1]', '1\n'), /expected a JSON object/, { file: 'config.json' });
    const missing = join(root, 'missing');
    await mkdir(missing);
    await expectFormatError(missing, /file not found/, { file: 'config.json' });
  });

  it('a failed save leaves the previous pattern intact and no temporary files', async () => {
    const dir = join(root, 'keep');
    await writePattern(dir, generatePattern({ numLayers: 2, numKvHeads: 2, fill: 1 }));
    const before = await readFile(join(dir, 'full_attention_heads.tsv'), 'utf8');
    // A pattern whose gate table cannot be formatted: nothing may be written.
    const unwritable = {
      ...generatePattern({ numLayers: 2, numKvHeads: 2, fill: 0 }),
      storedAlpha: [null],
    } as never;
    await expect(writePattern(dir, unwritable)).rejects.toThrow();
    expect(await readFile(join(dir, 'full_attention_heads.tsv'), 'utf8')).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'full_attention_heads.tsv']);
  });
});
