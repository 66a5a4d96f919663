// Interrupts, output paths and policy values, as a new user meets them: an interrupted NIAH run keeps
// what finished and never overwrites good results; a bad --out fails before any work; every policy
// value out of range gets a clear message.
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/duo.js';
import { runCli } from './run-cli.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-cli-reliability-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

describe('an interrupted niah run', () => {
  it('exits 130, keeps the finished trials as partial and leaves results.json alone', async () => {
    const out = join(root, 'niah');
    await mkdir(out);
    const previous = '{"a good earlier run": true}\n';
    await writeFile(join(out, 'results.json'), previous);
    const controller = new AbortController();
    let stderr = '';
    const code = await main(
      ['niah', '--lengths', '300', '--depths', '0,25,50,75,100', '--out', out],
      {
        stdout: () => undefined,
        stderr: (text) => {
          stderr += text;
          // The user presses Ctrl-C once the second trial is done.
          if (text.startsWith('[2/')) controller.abort();
        },
      },
      controller.signal,
    );
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(
      /interrupted after 2 of 5 trials; the finished trials are in .*results\.partial\.json/,
    );
    expect(await readFile(join(out, 'results.json'), 'utf8')).toBe(previous);
    const partial = JSON.parse(await readFile(join(out, 'results.partial.json'), 'utf8'));
    expect(partial).toMatchObject({ partial: true, trialsFinished: 2, trialsTotal: 5 });
    expect(partial.trials.full).toHaveLength(2);
    expect((await readdir(out)).sort()).toEqual(['results.json', 'results.partial.json']);

    // A complete run then replaces results.json and removes the partial file.
    const done = await runCli('niah', '--lengths', '300', '--depths', '0', '--out', out);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')).partial).toBeUndefined();
    expect(existsSync(join(out, 'results.partial.json'))).toBe(false);
  });

  it('an interrupted generate prints what it has and exits 130', async () => {
    const controller = new AbortController();
    let tokens = 0;
    const code = await main(
      ['generate', '--prompt', 'The river', '--max-new-tokens', '200', '--ignore-eos'],
      {
        stdout: () => {
          if (++tokens === 3) controller.abort();
        },
        stderr: () => undefined,
      },
      controller.signal,
    );
    expect(code).toBe(130);
  });
});

describe('bad --out paths fail before any work', () => {
  it('names an existing file, a path under a file and a directory given for a file', async () => {
    const file = join(root, 'taken.txt');
    await writeFile(file, 'x');
    const cases: [string[], RegExp][] = [
      [['niah', '--lengths', '300', '--out', file], /--out .*taken\.txt exists and is not a directory/],
      [
        ['niah', '--lengths', '300', '--out', join(file, 'sub')],
        /cannot create it \(a part of the path is a file/,
      ],
      [
        ['bench', 'memory', '--shape', 'toy', '--contexts', '64', '--out', file],
        /exists and is not a directory/,
      ],
      [['demo', '--lengths', '300', '--out', file], /exists and is not a directory/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli(...argv);
      expect(run.code, argv.join(' ')).toBe(1);
      expect(run.stderr, argv.join(' ')).toMatch(message);
      // Nothing ran: no trial, no measurement.
      expect(run.stderr, argv.join(' ')).not.toMatch(/\[1\/|preparing/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    const dirAsFile = join(root, 'plot.png');
    await mkdir(dirAsFile);
    const pattern = join(root, 'pattern');
    expect(
      (await runCli('pattern', 'create', '--out', pattern, '--layers', '2', '--kv-heads', '2')).code,
    ).toBe(0);
    const plot = await runCli('pattern', 'plot', pattern, '--out', dirAsFile);
    expect(plot.code).toBe(1);
    expect(plot.stderr).toMatch(/plot\.png is a directory, not a file/);
  });

  it.skipIf(!existsSync('/sys'))('names a location without permission (/sys refuses even root)', async () => {
    const run = await runCli('niah', '--lengths', '300', '--out', '/sys/duo-attn-out');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/--out \/sys\/duo-attn-out: cannot create it \(permission denied\)/);
  });

  it.skipIf(process.getuid?.() === 0)('names a read-only directory (not as root)', async () => {
    const locked = join(root, 'locked');
    await mkdir(locked);
    await chmod(locked, 0o500);
    try {
      const run = await runCli('niah', '--lengths', '300', '--out', locked);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/cannot write in .*locked \(permission denied\)/);
    } finally {
      await chmod(locked, 0o700);
    }
  });
});

describe('policy values', () => {
  const pattern = () => join(root, 'pattern');
  it('refuses sparsity, threshold, sink and recent out of range with the option named', async () => {
    await runCli('pattern', 'create', '--out', pattern(), '--layers', '6', '--kv-heads', '4');
    const cases: [string[], RegExp][] = [
      [['--pattern', pattern(), '--sparsity', '1.5'], /--sparsity must be <= 1, got 1.5/],
      [['--pattern', pattern(), '--sparsity=-0.1'], /--sparsity must be >= 0, got -0.1/],
      [['--pattern', pattern(), '--threshold', '7'], /--threshold must be <= 1, got 7/],
      [['--policy', 'streaming', '--sink', '1000000000'], /--sink must be <= 8192, got 1000000000/],
      [['--policy', 'streaming', '--recent', '99999999999999999999'], /--recent is too large/],
      [
        ['--policy', 'streaming', '--sink', '5000', '--recent', '5000'],
        /--sink 5000 \+ --recent 5000 = 10000 exceeds the model's context of 8192/,
      ],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli('generate', '--prompt', 'x', '--max-new-tokens', '1', ...argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stderr, argv.join(' ')).toMatch(message);
    }
    const sparsify = await runCli('pattern', 'sparsify', pattern(), '--sparsity', '1.5');
    expect(sparsify.stderr).toMatch(/--sparsity must be <= 1/);
  });
});
