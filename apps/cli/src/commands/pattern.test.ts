import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPattern } from '@duo-attn/patterns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

let root: string;
let pattern: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-cli-pattern-'));
  pattern = join(root, 'p');
  const created = await runCli(
    'pattern',
    'create',
    '--out',
    pattern,
    '--layers',
    '4',
    '--kv-heads',
    '4',
    '--seed',
    '9',
    '--sink',
    '8',
    '--recent',
    '16',
  );
  expect(created.code).toBe(0);
});
afterAll(async () => rm(root, { recursive: true, force: true }));

describe('duo pattern', () => {
  it('show --json prints the documented fields only on stdout', async () => {
    const run = await runCli('pattern', 'show', pattern, '--json');
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const json = JSON.parse(run.stdout);
    expect(json).toMatchObject({ numLayers: 4, numKvHeads: 4, sinkSize: 8, recentSize: 16 });
    expect(json.alpha).toEqual((await readPattern(pattern)).alpha);
  });

  it('sparsify --json gives achieved sparsity, count and mask, and --out writes a 0/1 pattern', async () => {
    const out = join(root, 'mask');
    const run = await runCli(
      'pattern',
      'sparsify',
      pattern,
      '--sparsity',
      '0.75',
      '--seed',
      '3',
      '--out',
      out,
      '--json',
    );
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.retrievalHeads).toBe(16 - Math.ceil(15 * 0.75));
    expect(json.sparsity).toBeCloseTo(1 - json.retrievalHeads / 16, 12);
    expect(json.mask.flat().reduce((a: number, b: number) => a + b, 0)).toBe(json.retrievalHeads);
    const written = await readPattern(out);
    expect(written.alpha).toEqual(json.mask);
    expect(written.sinkSize).toBe(8);
  });

  it('sparsify by threshold', async () => {
    const run = await runCli('pattern', 'sparsify', pattern, '--threshold', '0.5', '--json');
    const json = JSON.parse(run.stdout);
    const alpha = (await readPattern(pattern)).alpha;
    expect(json.mask).toEqual(alpha.map((row) => row.map((v) => (v >= 0.5 ? 1 : 0))));
  });

  it('stats --json reports per-layer counts and KV bytes', async () => {
    const run = await runCli(
      'pattern',
      'stats',
      pattern,
      '--head-dim',
      '64',
      '--dtype',
      'fp16',
      '--sparsity',
      '0.5',
      '--json',
    );
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.retrievalHeadsPerLayer.reduce((a: number, b: number) => a + b, 0)).toBe(8);
    expect(json.fullKvBytesPerToken).toBe(16 * 2 * 64 * 2);
    expect(json.policyKvBytesPerToken).toBe(8 * 2 * 64 * 2);
    const human = await runCli('pattern', 'stats', pattern);
    expect(human.stdout).toContain('relative to full attention');
  });

  it('plot writes SVG and PNG', async () => {
    const svg = join(root, 'plots', 'a.svg');
    const png = join(root, 'plots', 'b.png');
    expect((await runCli('pattern', 'plot', pattern, '--out', svg)).code).toBe(0);
    expect(
      (await runCli('pattern', 'plot', pattern, '--mask', '--sparsity', '0.25', '--out', png)).code,
    ).toBe(0);
    expect((await readFile(svg, 'utf8')).startsWith('<svg')).toBe(true);
    expect([...(await readFile(png)).subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]);
  });

  it('reports bad input on stderr with a non-zero exit and nothing on stdout', async () => {
    const bad = join(root, 'bad');
    await runCli('pattern', 'create', '--out', bad, '--layers', '2', '--kv-heads', '2', '--fill', '1');
    await writeFile(join(bad, 'full_attention_heads.tsv'), '1\t1\n1\tx\n');
    const cases: [string[], number, RegExp][] = [
      [['pattern', 'show', bad], 1, /full_attention_heads\.tsv:2:2: expected a finite number, found "x"/],
      [['pattern', 'show', join(root, 'nope')], 1, /config\.json: file not found/],
      [['pattern', 'sparsify', pattern], 2, /needs --sparsity S or --threshold T/],
      [['pattern', 'sparsify', pattern, '--sparsity', 'half'], 2, /--sparsity must be a number, got "half"/],
      [['pattern', 'sparsify', pattern, '--sparsity', '0.5', '--threshold', '0.5'], 2, /not both/],
      [['pattern', 'stats', pattern, '--dtype', 'int8'], 2, /--dtype must be one of/],
      [['pattern', 'plot', pattern, '--out', 'x.jpg'], 2, /\.svg or \.png/],
      [['pattern', 'show'], 2, /missing pattern directory/],
      [['pattern', 'show', pattern, '--bogus'], 2, /Unknown option '--bogus'/],
      [['pattern', 'frobnicate'], 2, /unknown pattern command/],
      [['nonsense'], 2, /unknown command "nonsense"/],
    ];
    for (const [argv, code, message] of cases) {
      const run = await runCli(...argv);
      expect(run.code, argv.join(' ')).toBe(code);
      expect(run.stdout, argv.join(' ')).toBe('');
      expect(run.stderr, argv.join(' ')).toMatch(message);
    }
  });
});
