import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LongBenchResumeError } from './longbench-errors.js';
import { type LongBenchRecord, LongBenchResultsFile, settingsPathOf } from './longbench-results-file.js';

const record = (id: string): LongBenchRecord => ({
  _id: id,
  pred: `answer ${id}`,
  answers: ['a'],
  all_classes: null,
  length: 5,
  score: 0,
  prompt_tokens: 10,
  truncated_tokens: 0,
  finish_reason: 'stop-token',
});

describe('LongBenchResultsFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duo-longbench-results-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes one JSON line per sample and resumes with the same settings', async () => {
    const path = join(dir, 'hotpotqa.jsonl');
    const settings = { dataset: 'hotpotqa', maxNewTokens: 32, policy: 'full attention' };
    const first = await LongBenchResultsFile.open(path, settings);
    expect(JSON.parse(await readFile(settingsPathOf(path), 'utf8'))).toEqual(settings);
    await first.add(record('a'));
    await first.add(record('b'));
    await expect(first.add(record('a'))).rejects.toThrow(/already has sample a/);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines.map((text) => JSON.parse(text)._id)).toEqual(['a', 'b']);
    const again = await LongBenchResultsFile.open(path, { ...settings });
    expect(again.has('a') && again.has('b') && !again.has('c')).toBe(true);
    expect(again.finished).toHaveLength(2);
  });

  it('refuses a file of other settings, naming each one that differs', async () => {
    const path = join(dir, 'trec.jsonl');
    const file = await LongBenchResultsFile.open(path, {
      maxLength: 8000,
      policy: 'full attention',
      backend: 'cpu',
    });
    await file.add(record('a'));
    const opening = LongBenchResultsFile.open(path, { maxLength: 4000, policy: 'streaming', backend: 'cpu' });
    await expect(opening).rejects.toThrow(LongBenchResumeError);
    await expect(opening).rejects.toThrow(
      /trec\.jsonl holds results of other settings \(maxLength: 8000 there, 4000 now; policy: "full attention" there, "streaming" now\)/,
    );
  });

  it('refuses a file without its settings, or with lines that are not results', async () => {
    const orphan = join(dir, 'orphan.jsonl');
    await writeFile(orphan, `${JSON.stringify(record('a'))}\n`);
    await expect(LongBenchResultsFile.open(orphan, {})).rejects.toThrow(
      /exists without .*orphan\.settings\.json/,
    );
    const broken = join(dir, 'broken.jsonl');
    await writeFile(settingsPathOf(broken), '{}');
    await writeFile(broken, `${JSON.stringify(record('a'))}\n{"pred": "x"}\n`);
    await expect(LongBenchResultsFile.open(broken, {})).rejects.toThrow(
      /broken\.jsonl:2 is not a results line/,
    );
  });
});
