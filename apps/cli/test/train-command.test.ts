// `duo train` end to end on a tiny fixture model (reference backend): progress on stderr, a pattern
// directory the original's readers accept, a checkpoint that resumes, and every bad input refused
// before the first step.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturesDirectory } from '@duo-attn/core/testing';
import { readPattern } from '@duo-attn/patterns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const model = join(fixturesDirectory(), 'llama-gqa');
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-cli-train-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

// Contexts and passkeys small enough for the fixture's 256-token context and the float64 trainer.
const tiny = [
  '--model',
  model,
  '--backend',
  'reference',
  '--templates',
  'toy',
  '--min-context',
  '40',
  '--max-context',
  '80',
  '--context-intervals',
  '3',
  '--passkeys',
  '2',
  '--sink',
  '4',
  '--recent',
  '8',
];

describe('duo train', () => {
  it('trains, reports progress, writes a readable pattern and a heatmap per checkpoint', async () => {
    const out = join(root, 'pattern');
    const run = await runCli(
      'train',
      ...tiny,
      '--out',
      out,
      '--steps',
      '6',
      '--checkpoint-every',
      '3',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/reference backend: training 3 x 2 gates for 6 steps/);
    expect(run.stderr).toMatch(/\[6\/6\] loss \d\.\d+ .* s\/step/);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ backend: 'reference', steps: 6, resumedFrom: 0 });
    const pattern = await readPattern(out, { numLayers: 3, numKvHeads: 2 });
    expect(pattern.sinkSize).toBe(4);
    expect(pattern.recentSize).toBe(8);
    expect(pattern.config).toMatchObject({ lr: 0.02, num_steps: 6, reg_weight: 0.05, trainer: 'duo-attn' });
    for (const row of pattern.alpha) for (const gate of row) expect(gate >= 0 && gate <= 1).toBe(true);
    expect((await readdir(join(out, 'training'))).sort()).toEqual([
      'checkpoint.json',
      'gates-step-00003.png',
      'gates-step-00006.png',
    ]);
    // The same command again finds the finished checkpoint and only writes the pattern.
    const again = await runCli(
      'train',
      ...tiny,
      '--out',
      out,
      '--steps',
      '6',
      '--checkpoint-every',
      '3',
      '--json',
    );
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).gates).toEqual(summary.gates);
    expect(again.stderr).toMatch(/resumed from step 6/);
    // Other settings against that checkpoint are refused, with what differs.
    const other = await runCli('train', ...tiny, '--out', out, '--steps', '6', '--lr', '0.1');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/other settings \(lr: checkpoint 0.02, this run 0.1\)/);
  });

  it('refuses bad input before any step', async () => {
    const noTokenizer = join(root, 'no-tokenizer');
    await mkdir(noTokenizer);
    for (const name of ['config.json', 'model.safetensors.index.json'])
      await copyFile(join(model, name), join(noTokenizer, name));
    for (const name of (await readdir(model)).filter((n) => n.startsWith('model-'))) {
      await copyFile(join(model, name), join(noTokenizer, name));
    }
    const wrongShape = join(root, 'wrong-shape');
    await mkdir(wrongShape);
    await writeFile(join(wrongShape, 'config.json'), '{"sink_size": 4, "recent_size": 8}');
    await writeFile(join(wrongShape, 'full_attention_heads.tsv'), '1\t1\t1\n');
    const cases: [string[], RegExp][] = [
      [
        [...tiny, '--out', join(root, 'a'), '--haystack-dir', join(root, 'missing')],
        /haystack directory does not exist/,
      ],
      [
        [...tiny.map((a) => (a === model ? noTokenizer : a)), '--out', join(root, 'b')],
        /tokenizer\.json not found/,
      ],
      [[...tiny, '--out', join(root, 'c'), '--init-pattern', wrongShape], /1 layers? .*3/],
      [
        [...tiny, '--out', join(root, 'd'), '--max-context', '400'],
        /--max-context 400 exceeds the model's context of 256/,
      ],
      [[...tiny, '--out', join(root, 'd2'), '--passkeys', '20'], /more than maxLength 256/],
      [[...tiny, '--out', join(root, 'e'), '--mask', 'diagonal'], /--mask must be token or block/],
      [[...tiny, '--out', join(root, 'f'), '--steps', '2'], /--steps must be >= 5/],
      [[...tiny, '--out', join(root, 'g'), '--templates', 'mine'], /--templates must be original or toy/],
      [['--model', model, '--backend', 'cpu', '--out', join(root, 'h')], /cpu backend cannot train/],
      [[...tiny], /--out PATTERN_DIR is required/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli('train', ...argv);
      expect(run.code, argv.join(' ')).not.toBe(0);
      expect(run.stderr, argv.join(' ')).toMatch(message);
      expect(run.stderr, argv.join(' ')).not.toMatch(/\[1\//);
    }
    expect(await readFile(join(wrongShape, 'config.json'), 'utf8')).toContain('sink_size');
  });
});
