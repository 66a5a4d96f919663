// `duo longbench` on the bundled toy model over small LongBench-format files made here: full vs
// DuoAttention vs streaming, resumable per-sample results, refusal of results from other settings,
// Ctrl-C, and bad invocations. The toy cannot answer real LongBench; these files hide the kind of
// code it can retrieve, so the policies' scores differ for a reason.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';
import { writeToyLongBench } from '@duo-attn/eval';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/duo.js';
import { runCli } from './run-cli.js';

let root: string;
let data: string;
let tables: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-cli-longbench-'));
  data = join(root, 'data');
  tables = join(root, 'tables');
  await writeToyLongBench(data, tables);
});
afterAll(() => rm(root, { recursive: true, force: true }));

// Chunked prefill and a small window, so streaming heads really lose the hidden code.
const POLICIES = [
  '--policy',
  'full',
  '--policy',
  'streaming',
  '--pattern',
  join(defaultModelDirectory(), 'pattern'),
];
const WINDOW = ['--sink', '8', '--recent', '32', '--prefill-chunk', '32'];

describe('duo longbench', () => {
  it('scores full, streaming and DuoAttention, then resumes without generating again', async () => {
    const out = join(root, 'compare');
    const args = ['longbench', '--data', data, '--tables', tables, ...POLICIES, ...WINDOW, '--out', out];
    const run = await runCli(...args, '--json');
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.policies.map((policy: { name: string }) => policy.name)).toEqual([
      'full',
      'streaming',
      'duo',
    ]);
    const score = (policy: string, dataset: string) =>
      summary.rows.find(
        (row: { policy: string; dataset: string }) => row.policy === policy && row.dataset === dataset,
      ).score as number;
    for (const dataset of ['hotpotqa', 'passage_count', 'trec', 'lcc', 'multifieldqa_zh']) {
      for (const policy of ['full', 'streaming', 'duo'])
        expect(score(policy, dataset)).toBeGreaterThanOrEqual(0);
    }
    // Full attention finds every hidden code (passage_count's answer is the code itself); streaming
    // heads with an 8 + 32 window after the first 32-token chunk cannot.
    expect(score('full', 'passage_count')).toBe(100);
    expect(score('streaming', 'passage_count')).toBeLessThan(score('full', 'passage_count'));
    expect(score('full', 'hotpotqa')).toBeGreaterThan(score('streaming', 'hotpotqa'));
    expect(run.stderr).toMatch(/\[33\/33\] duo /);

    // Files: one JSONL line per sample per policy, its settings, and the tables.
    expect((await readdir(out)).sort()).toEqual(['duo', 'full', 'results.json', 'results.md', 'streaming']);
    const lines = (await readFile(join(out, 'duo', 'hotpotqa.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line)._id)).toEqual(['hq-1', 'hq-2', 'hq-3']);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      answers: ['4817263'],
      length: 120,
      finish_reason: 'stop-token',
    });
    const settings = JSON.parse(await readFile(join(out, 'duo', 'hotpotqa.settings.json'), 'utf8'));
    expect(settings).toMatchObject({
      backend: 'cpu',
      maxNewTokens: 20,
      maxLength: 8172,
      decodeTail: 50,
      chatTemplate: false,
    });
    expect(settings.policy).toMatch(
      /DuoAttention: 12 of 24 KV heads retrieval \(sparsity 0\.5\), sink 8, recent 32/,
    );
    const markdown = await readFile(join(out, 'results.md'), 'utf8');
    expect(markdown).toContain('| dataset | metric | samples | full | streaming | duo |');
    expect(markdown).toContain(
      `| passage_count | count | 2 | 100.00 | ${score('streaming', 'passage_count').toFixed(2)} |`,
    );

    // The same command again: everything is resumed, nothing generated, the same table.
    const again = await runCli(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/duo lcc\.jsonl: 2 samples resumed from/);
    expect(again.stderr).not.toMatch(/\] (full|streaming|duo) [a-z_]+ [a-z]+-\d: /);
    expect(again.stdout).toBe(markdown.replace(/^# LongBench: toy-retrieval\n\n/, ''));

    // Other settings are refused before any generation, naming what differs.
    const other = await runCli(...args, '--decode-tail', '10');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /full[/\\]multifieldqa_zh\.jsonl holds results of other settings \(decodeTail: 50 there, 10 now\)/,
    );
  });

  it('scores LongBench-E by length bucket', async () => {
    const run = await runCli(
      'longbench',
      '--e',
      '--data',
      data,
      '--tables',
      tables,
      '--out',
      join(root, 'e'),
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const [row] = JSON.parse(run.stdout).rows;
    expect(row).toMatchObject({ policy: 'full', dataset: 'qasper', longbenchE: true, samples: 3 });
    expect(Object.keys(row.buckets)).toEqual(['0-4k', '4-8k', '8k+']);
    expect(await readFile(join(root, 'e', 'results.md'), 'utf8')).toContain('| qasper | full | 3 |');
  });

  it('stops cleanly on Ctrl-C, keeps the finished samples, exits 130, and the next run finishes the rest', async () => {
    const out = join(root, 'interrupted');
    const args = [
      'longbench',
      '--data',
      data,
      '--tables',
      tables,
      '--datasets',
      'hotpotqa,lcc',
      '--out',
      out,
    ];
    const controller = new AbortController();
    let stderr = '';
    const code = await main(
      args,
      {
        stdout: () => undefined,
        stderr: (text) => {
          stderr += text;
          if (text.startsWith('[2/')) controller.abort();
        },
      },
      controller.signal,
    );
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(
      /longbench interrupted after 2 of 5 samples; the finished ones are in .*the same command resumes them/,
    );
    expect((await readFile(join(out, 'full', 'hotpotqa.jsonl'), 'utf8')).trimEnd().split('\n')).toHaveLength(
      2,
    );
    expect((await readdir(out)).sort()).toEqual(['full']);
    const rest = await runCli(...args);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stderr).toMatch(/\[2\/5\] full hotpotqa\.jsonl: 2 samples resumed/);
    expect(rest.stderr).toMatch(/\[5\/5\] full lcc lc-2: /);
  });

  it('refuses bad invocations before any generation, naming what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['longbench'], /--data DIR is required/],
      [
        ['longbench', '--data', data, '--datasets', 'hotpot'],
        /"hotpot" is not a LongBench dataset \(known: narrativeqa, /,
      ],
      [['longbench', '--data', data, '--e', '--datasets', 'musique'], /"musique" is not in LongBench-E/],
      [
        ['longbench', '--data', tables, '--tables', tables],
        /has no LongBench files \(such as hotpotqa\.jsonl\)/,
      ],
      [
        ['longbench', '--data', data, '--tables', tables, '--datasets', 'musique'],
        /have no prompt or answer length for musique/,
      ],
      [
        ['longbench', '--data', data, '--tables', tables, '--max-length', '9000'],
        /--max-length gives 9000 prompt tokens; with .*20 answer tokens that exceeds the model's context of 8192/,
      ],
      [['longbench', '--data', data, '--tables', tables, '--decode-tail', '-1'], /--decode-tail/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(...args);
      expect(run.code, args.join(' ')).not.toBe(0);
      expect(run.stderr, args.join(' ')).toMatch(message);
    }
  });
});
