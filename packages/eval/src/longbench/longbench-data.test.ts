import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longBenchFileName, readLongBenchFile } from './longbench-data.js';

const line = (fields: Record<string, unknown>) =>
  JSON.stringify({
    input: 'q',
    context: 'c',
    answers: ['a'],
    length: 10,
    all_classes: null,
    _id: 'x',
    ...fields,
  });

describe('readLongBenchFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duo-longbench-data-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the official fields, LongBench-E names and a file without _id', async () => {
    expect(longBenchFileName('qasper', true)).toBe('qasper_e.jsonl');
    await writeFile(
      join(dir, 'qasper_e.jsonl'),
      `${line({ _id: 'a', length: 5000 })}\n\n${line({ _id: 'b' })}\n`,
    );
    const file = await readLongBenchFile(dir, 'qasper', true);
    expect(file.samples.map((sample) => [sample.id, sample.length])).toEqual([
      ['a', 5000],
      ['b', 10],
    ]);
    expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
    await writeFile(
      join(dir, 'trec.jsonl'),
      `${JSON.stringify({ input: 'q', context: 'c', answers: ['Animal'], length: 3, all_classes: ['Animal'] })}\n`,
    );
    expect((await readLongBenchFile(dir, 'trec')).samples[0]).toMatchObject({
      id: 'line-1',
      allClasses: ['Animal'],
    });
  });

  it('names the file and line of every kind of bad sample', async () => {
    const cases: [string, string, RegExp][] = [
      ['hotpotqa', 'not json', /hotpotqa\.jsonl:1: not valid JSON/],
      ['hotpotqa', '[1]', /hotpotqa\.jsonl:1: a sample must be a JSON object/],
      ['hotpotqa', line({ answers: 'a' }), /"answers" must be a list of strings/],
      ['hotpotqa', line({ input: 3 }), /"input" must be a string/],
      ['hotpotqa', line({ length: -1 }), /"length" must be a number >= 0/],
      ['hotpotqa', `${line({})}\n${line({})}`, /hotpotqa\.jsonl:2: "_id" x occurs twice/],
      ['trec', line({}), /trec\.jsonl:1: trec is scored by class names, but "all_classes" is null/],
      [
        'passage_retrieval_en',
        line({ answers: ['12'] }),
        /passage_retrieval_en\.jsonl:1: a retrieval answer must contain "Paragraph N"/,
      ],
      ['lcc', '\n\n', /lcc\.jsonl has no samples/],
    ];
    for (const [dataset, text, message] of cases) {
      await writeFile(join(dir, `${dataset}.jsonl`), text);
      await expect(readLongBenchFile(dir, dataset), text).rejects.toThrow(message);
    }
    await expect(readLongBenchFile(dir, 'musique')).rejects.toThrow(/no data file .*musique\.jsonl/);
  });
});
