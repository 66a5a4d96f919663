import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDataPath } from '@duo-attn/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONGBENCH_DATASETS } from './longbench-datasets.js';
import { findLongBenchTables, readLongBenchTables } from './longbench-tables.js';

const shared = sharedDataPath('longbench/dataset2prompt.json', 'the original LongBench tables');

describe.skipIf(shared === undefined)("the original's tables (shared/data/longbench)", () => {
  it('cover the 21 datasets with valid templates and the answer lengths of the spec', async () => {
    const tables = await readLongBenchTables(join(shared!, '..'));
    expect(Object.keys(tables.prompts).sort()).toEqual([...LONGBENCH_DATASETS].sort());
    expect(Object.keys(tables.maxNewTokens).sort()).toEqual([...LONGBENCH_DATASETS].sort());
    expect(tables.maxNewTokens).toMatchObject({ narrativeqa: 128, hotpotqa: 32, gov_report: 512, lcc: 64 });
    expect(tables.modelMaxLength['Llama-2-7B-32K-Instruct']).toBe(31500);
    // The original's typo is kept verbatim.
    expect(tables.prompts.narrativeqa).toContain('asconcisely');
  });

  it('are found from this checkout without being named', () => {
    const saved = process.env.DUO_SHARED_DIR;
    delete process.env.DUO_SHARED_DIR;
    try {
      expect(findLongBenchTables()).toMatch(/shared[/\\]data[/\\]longbench$/);
    } finally {
      if (saved !== undefined) process.env.DUO_SHARED_DIR = saved;
    }
  });
});

describe('readLongBenchTables', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duo-longbench-tables-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('names the file and key of a bad entry', async () => {
    await writeFile(join(dir, 'dataset2prompt.json'), JSON.stringify({ hotpotqa: 'Q: {input}' }));
    await writeFile(join(dir, 'dataset2maxlen.json'), JSON.stringify({ hotpotqa: 0 }));
    await expect(readLongBenchTables(dir)).rejects.toThrow(
      /dataset2maxlen\.json: "hotpotqa" must be a positive integer, got 0/,
    );
    await writeFile(join(dir, 'dataset2maxlen.json'), '{"hotpotqa": 32,}');
    await expect(readLongBenchTables(dir)).rejects.toThrow(/dataset2maxlen\.json is not valid JSON/);
    await writeFile(join(dir, 'dataset2maxlen.json'), JSON.stringify({ hotpotqa: 32 }));
    await writeFile(join(dir, 'dataset2prompt.json'), JSON.stringify({ hotpotqa: 'Q: {input}}' }));
    await expect(readLongBenchTables(dir)).rejects.toThrow(/dataset2prompt\.json: "hotpotqa": single "}"/);
    await writeFile(join(dir, 'dataset2prompt.json'), JSON.stringify({ hotpotqa: 'Q: {input}' }));
    const tables = await readLongBenchTables(dir);
    expect(tables.modelMaxLength).toEqual({});
    expect(findLongBenchTables(dir)).toBe(dir);
  });

  it('says where it looked when it finds no tables', async () => {
    const saved = process.env.DUO_SHARED_DIR;
    process.env.DUO_SHARED_DIR = join(dir, 'nowhere');
    try {
      const empty = join(dir, 'empty');
      if (shared === undefined)
        expect(() => findLongBenchTables(empty)).toThrow(/no LongBench tables .*Looked in: .*empty/);
      else expect(findLongBenchTables(empty)).not.toBe(empty);
    } finally {
      if (saved === undefined) delete process.env.DUO_SHARED_DIR;
      else process.env.DUO_SHARED_DIR = saved;
    }
  });
});
