// A seeded fuzz pass over the CLI's arguments and inputs, as a careless or hostile user would type
// them: every case must end with exit code 0, 1 (a named error) or 2 (a usage error), never with a
// stack trace, an "unexpected error", or (through the built binary) a signal. Values are picked so
// that no case can start a long run (counts stay small or invalid), so the pass is bounded.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { mulberry32 } from '@duo-attn/core';
import { fixturesDirectory } from '@duo-attn/core/testing';
import { writeToyLongBench } from '@duo-attn/eval';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/** Options each command takes (from its usage text); booleans take no value. */
const COMMANDS: Record<string, { options: string[]; booleans?: string[]; positional?: boolean }> = {
  info: {
    options: ['model', 'policy', 'pattern', 'sparsity', 'threshold', 'sink', 'recent', 'kv-dtype', 'memory'],
    booleans: ['json'],
  },
  generate: {
    options: [
      'model',
      'backend',
      'policy',
      'pattern',
      'sparsity',
      'threshold',
      'pattern-seed',
      'sink',
      'recent',
      'prompt',
      'prompt-ids',
      'system',
      'prefill-chunk',
      'max-new-tokens',
      'temperature',
      'top-k',
      'top-p',
      'repetition-penalty',
      'seed',
      'stop',
      'truncate',
      'context-length',
    ],
    booleans: ['chat', 'greedy', 'ignore-eos', 'json'],
  },
  score: {
    options: [
      'model',
      'backend',
      'policy',
      'pattern',
      'sparsity',
      'sink',
      'recent',
      'ids',
      'ids-file',
      'prefill-length',
      'prefill-chunk',
      'rows',
      'context-length',
    ],
    booleans: ['json'],
  },
  niah: {
    options: [
      'model',
      'policy',
      'pattern',
      'sparsity',
      'sink',
      'recent',
      'lengths',
      'depths',
      'trials',
      'seed',
      'haystack-dir',
      'needle',
      'question',
      'answer-prefix',
      'value-digits',
      'max-new-tokens',
      'prefill-chunk',
      'out',
    ],
    booleans: ['json'],
  },
  bench: {
    options: [
      'shape',
      'policy',
      'pattern',
      'sink',
      'recent',
      'contexts',
      'steps',
      'prompt-length',
      'chunks',
      'seed',
      'out',
      'threads',
    ],
    positional: true,
  },
  'pattern show': { options: [], booleans: ['json'], positional: true },
  'pattern sparsify': {
    options: ['sparsity', 'threshold', 'seed', 'out'],
    booleans: ['json'],
    positional: true,
  },
  'pattern stats': {
    options: ['sparsity', 'threshold', 'seed', 'head-dim', 'dtype'],
    booleans: ['json'],
    positional: true,
  },
  'pattern plot': { options: ['out', 'sparsity', 'threshold', 'seed'], booleans: ['mask'], positional: true },
  'pattern create': {
    options: ['out', 'layers', 'kv-heads', 'fill', 'seed', 'sink', 'recent'],
    booleans: ['json'],
  },
  demo: { options: ['lengths', 'depths', 'trials', 'backend', 'out'] },
  longbench: {
    options: [
      'data',
      'datasets',
      'tables',
      'policy',
      'pattern',
      'sparsity',
      'sink',
      'recent',
      'max-length',
      'decode-tail',
      'prefill-chunk',
      'limit',
      'out',
    ],
    booleans: ['e', 'no-chat-template', 'json'],
  },
};

let root: string;
/** Paths the fuzz passes as values: files, folders, broken inputs and unwritable places. */
interface FuzzPaths {
  file: string;
  emptyDir: string;
  badPattern: string;
  badIds: string;
  locked: string;
  underFile: string;
  fixture: string;
  fresh: string;
  pattern: string;
  longbench: string;
}

let paths: FuzzPaths;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-cli-fuzz-'));
  const file = join(root, 'a-file.txt');
  await writeFile(file, 'not a directory');
  const emptyDir = join(root, 'empty');
  await mkdir(emptyDir);
  const badPattern = join(root, 'bad-pattern');
  await mkdir(badPattern);
  await writeFile(join(badPattern, 'config.json'), '{"sink_size": -4, "recent_size": "x"}');
  await writeFile(join(badPattern, 'full_attention_heads.tsv'), '1\tx\n0.5\n');
  const badIds = join(root, 'ids.txt');
  await writeFile(badIds, '1, 2, banana, -3\n');
  const pattern = join(root, 'pattern');
  await mkdir(pattern);
  await writeFile(join(pattern, 'config.json'), '{"sink_size": 4, "recent_size": 8}');
  await writeFile(join(pattern, 'full_attention_heads.tsv'), '1.0\t0.25\n0.5\t0.75\n0.0\t1.0\n');
  const longbench = join(root, 'longbench');
  await writeToyLongBench(longbench, longbench, { words: 20 });
  const locked = join(root, 'locked');
  await mkdir(locked);
  await chmod(locked, 0o500);
  paths = {
    file,
    emptyDir,
    badPattern,
    badIds,
    locked: join(locked, 'out'),
    underFile: join(file, 'out'),
    fixture: join(fixturesDirectory(), 'llama-gqa'),
    fresh: join(root, 'fresh-out'),
    pattern,
    longbench,
  };
});

afterAll(async () => {
  await chmod(join(root, 'locked'), 0o700).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

/** Values a user might type: malformed, out of range, hostile, and a few valid small ones. */
function valuePool(): string[] {
  return [
    '',
    ' ',
    '-1',
    '0',
    '1',
    '2',
    '1.5',
    '0.5',
    '-0.1',
    'NaN',
    'Infinity',
    '-Infinity',
    '1e309',
    '99999999999999999999',
    '4294967296',
    'abc',
    '0x10',
    '1,2,3',
    ',,',
    '1,-2',
    '3,,4',
    '1e3',
    'full',
    'streaming',
    'duo',
    'duo:0.5',
    'left',
    'int4',
    'bf16',
    'llama-0.5b-x',
    'ü😀',
    '--json',
    '{value}',
    '/nonexistent/path',
    '../../../../etc/passwd',
    paths.file,
    paths.emptyDir,
    paths.badPattern,
    paths.badIds,
    paths.locked,
    paths.underFile,
    paths.fixture,
    paths.longbench,
    `${paths.fresh}-${Math.random()}`,
  ];
}

/** A valid, quick command line per command, which the fuzz then mutates (later options win). */
function validBase(command: string): string[] | undefined {
  const tiny = ['--model', paths.fixture];
  switch (command) {
    case 'info':
      return [...tiny, '--policy', 'streaming', '--sink', '4', '--recent', '8'];
    case 'generate':
      return [...tiny, '--prompt-ids', '1,2,3', '--max-new-tokens', '2'];
    case 'score':
      return [...tiny, '--ids', '1,2,3,4', '--prefill-length', '2'];
    case 'niah':
      return [...tiny, '--lengths', '150', '--depths', '0', '--max-new-tokens', '2'];
    case 'longbench':
      // On the toy model: one short sample of one dataset.
      return [
        '--data',
        paths.longbench,
        '--datasets',
        'passage_count',
        '--limit',
        '1',
        '--out',
        join(root, 'lb-out'),
      ];
    case 'pattern show':
    case 'pattern sparsify':
    case 'pattern stats':
    case 'pattern plot':
      return [paths.pattern, ...(command === 'pattern sparsify' ? ['--sparsity', '0.5'] : [])];
    default:
      return undefined;
  }
}

/**
 * A random command line for `command`: most often a valid base with 1-3 options changed to random
 * values, otherwise 0-4 random options and maybe a random positional.
 */
function randomCase(random: () => number, command: string): string[] {
  const spec = COMMANDS[command]!;
  const pool = valuePool();
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const argv = command.split(' ');
  if (command === 'bench') argv.push(pick(['decode', 'prefill', 'memory', 'nope']));
  const base = validBase(command);
  if (base !== undefined && random() < 0.6) argv.push(...base);
  else if (spec.positional && random() < 0.8 && command !== 'bench') argv.push(pick(pool));
  const count = Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    if (spec.booleans && random() < 0.25) {
      argv.push(`--${pick(spec.booleans)}`);
      continue;
    }
    if (spec.options.length === 0) break;
    const option = pick(spec.options);
    let value = pick(pool);
    // Whatever the fuzz writes lands in its own folder, never in the working directory.
    if (option === 'out' && value !== '' && !value.startsWith('/')) value = join(root, 'rel', value);
    if (random() < 0.3) argv.push(`--${option}=${value}`);
    else argv.push(`--${option}`, value);
  }
  if (random() < 0.05) argv.push('--no-such-option');
  return argv;
}

/** True when a case could start a long model run (kept out so the pass stays bounded). */
function isLong(argv: readonly string[]): boolean {
  const command = argv.slice(0, argv[0] === 'pattern' ? 2 : 1).join(' ');
  // Benchmarks and the demo on a valid model measure for a long time; niah on the toy model too.
  if (command === 'bench' && argv.includes(paths.fixture)) return true;
  if (command === 'niah' && argv.includes(paths.fixture)) return false;
  if (command === 'demo' || command === 'niah') {
    return !argv.some((arg) => arg === '' || arg === 'abc' || arg.startsWith('/nonexistent'));
  }
  return false;
}

function checkOutcome(argv: readonly string[], run: { code: number; stderr: string }): void {
  const label = `duo ${argv.map((a) => JSON.stringify(a)).join(' ')}\n${run.stderr}`;
  expect([0, 1, 2], label).toContain(run.code);
  expect(run.stderr, label).not.toMatch(/unexpected error/);
  expect(run.stderr, label).not.toMatch(/\n\s+at .+:\d+:\d+/);
  if (run.code !== 0) expect(run.stderr, label).toMatch(/^duo: /m);
  // Internal failures surfacing as messages are defects too.
  expect(run.stderr, label).not.toMatch(
    /TypeError|RangeError|ReferenceError|Cannot read prop|is not a function|Invalid typed array|\bundefined\b/,
  );
  if (process.env.DUO_FUZZ_LOG) {
    const said = run.stderr.split('\n').filter((line) => line.startsWith('duo'));
    console.log(`fuzz ${run.code} ${argv.join(' ').slice(0, 100)} => ${said.join(' | ').slice(0, 160)}`);
  }
}

describe('CLI fuzz pass', () => {
  it('ends every case with a named error or success, never a stack trace (in-process, 300 cases)', async () => {
    const random = mulberry32(20261203);
    const commands = Object.keys(COMMANDS);
    let ran = 0;
    for (let i = 0; ran < 300 && i < 4000; i++) {
      const argv = randomCase(random, commands[i % commands.length]!);
      // Only cases that end quickly; the ones that would start a long run are skipped.
      if (isLong(argv)) continue;
      checkOutcome(argv, await runCli(...argv));
      ran++;
    }
    expect(ran).toBe(300);
  });

  const bin = resolve(import.meta.dirname, '../dist/duo.js');
  it.skipIf(!existsSync(bin))('the built binary dies of no signal on hostile input (30 cases)', async () => {
    const random = mulberry32(7);
    const commands = ['generate', 'score', 'info', 'pattern sparsify', 'niah'];
    const run = promisify(execFile);
    let ran = 0;
    for (let i = 0; ran < 30 && i < 1000; i++) {
      const argv = randomCase(random, commands[i % commands.length]!);
      if (isLong(argv)) continue;
      const result = await run(process.execPath, [bin, ...argv], { timeout: 120_000, cwd: root }).then(
        ({ stderr }) => ({ code: 0, signal: null as string | null, stderr }),
        (error: { code?: number; signal?: string; stderr?: string }) => ({
          code: typeof error.code === 'number' ? error.code : -1,
          signal: error.signal ?? null,
          stderr: error.stderr ?? '',
        }),
      );
      expect(result.signal, `duo ${argv.join(' ')}\n${result.stderr}`).toBeNull();
      checkOutcome(argv, result);
      ran++;
    }
    expect(ran).toBe(30);
  });
});
