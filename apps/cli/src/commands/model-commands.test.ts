// info / generate / score on the golden fixture models: the CLI path must reproduce HF's numbers.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';
import { fixturesDirectory, openGoldenModel, readGoldenManifestSync } from '@duo-attn/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

const model = join(fixturesDirectory(), 'llama-gqa');
const manifest = readGoldenManifestSync('llama-gqa');

describe('duo info', () => {
  it('splits the model over GPUs with --tensor-parallel, per GPU and for the group', async () => {
    const run = await runCli('info', '--model', model, '--tensor-parallel', '2', '--memory', '1', '--json');
    expect(run.code, run.stderr).toBe(0);
    const { tensorParallel, memory } = JSON.parse(run.stdout);
    expect(tensorParallel.worldSize).toBe(2);
    expect(tensorParallel.ranks.map((rank: { retrievalKvHeads: number }) => rank.retrievalKvHeads)).toEqual([
      3, 3,
    ]);
    expect(tensorParallel.ranks[0].kvBytesPerToken).toBe(memory.full.kvBytesPerToken / 2);
    expect(tensorParallel.capacityTokens).toBeGreaterThan(2 * memory.full.capacityTokens - 1);
    const text = await runCli('info', '--model', model, '--tensor-parallel', '2', '--memory', '1');
    expect(text.stdout).toMatch(/tensor parallel over 2 GPUs/);
    expect(text.stdout).toMatch(/context the 2 GPUs fit together: [\d,]+ tokens/);
    const odd = await runCli('info', '--model', model, '--tensor-parallel', '3');
    expect(odd.code).toBe(1);
    expect(odd.stderr).toMatch(/does not divide by the tensor-parallel size 3/);
  });
  it('summarises a model and its KV memory per policy', async () => {
    const run = await runCli(
      'info',
      '--model',
      model,
      '--policy',
      'streaming',
      '--sink',
      '4',
      '--recent',
      '8',
      '--memory',
      '1',
      '--json',
    );
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.config).toMatchObject({ numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 16 });
    // float32 checkpoint: 3 layers x 2 KV heads x 16 dims x (K+V) x 4 bytes.
    expect(json.memory.full.kvBytesPerToken).toBe(768);
    expect(json.memory.policy.kvBytesPerToken).toBe(0);
    expect(json.memory.policy.streamingKvBytes).toBe(3 * 2 * 12 * 16 * 2 * 4);
    expect(json.memory.policy.capacityTokens).toBeNull();
    expect(json.memory.full.capacityTokens).toBe(Math.floor((2 ** 30 - json.memory.weightBytes) / 768));
    const bf16 = JSON.parse((await runCli('info', '--model', model, '--kv-dtype', 'bf16', '--json')).stdout);
    expect(bf16.memory.full.kvBytesPerToken).toBe(384);
  });
});

describe('the bundled default model', () => {
  it('is used when --model is omitted', async () => {
    const run = await runCli('info', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).config).toMatchObject({
      numLayers: 6,
      numHeads: 8,
      numKvHeads: 4,
      vocabSize: 2048,
    });
  });
});

describe('duo niah', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'duo-cli-niah-'));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('compares policies on the same prompts and writes results and heatmaps', async () => {
    const out = join(root, 'grid');
    const run = await runCli(
      'niah',
      '--lengths',
      '300',
      '--depths',
      '0,100',
      '--policy',
      'full',
      '--policy',
      'streaming',
      '--sink',
      '4',
      '--recent',
      '8',
      '--prefill-chunk',
      '64',
      '--out',
      out,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.mode).toBe('value');
    expect(json.policies.map((p: { name: string }) => p.name)).toEqual(['full', 'streaming']);
    expect(json.cells).toHaveLength(4);
    // Both policies saw the same values.
    const values = (name: string) => json.trials[name].map((t: { expected: string }) => t.expected);
    expect(values('full')).toEqual(values('streaming'));
    expect(json.policies[0].score).toBe(1);
    expect(json.policies[1].kvBytesPerToken).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      'niah-full.png',
      'niah-full.svg',
      'niah-streaming.png',
      'niah-streaming.svg',
      'results.json',
    ]);
  });

  it('reads haystack directories and scores classic needles by ROUGE-1 recall', async () => {
    const hay = join(root, 'hay');
    await mkdir(hay);
    await writeFile(
      join(hay, 'a.txt'),
      'The river was calm that morning.\r\nBirds sang over the quiet water. '.repeat(40),
    );
    const run = await runCli(
      'niah',
      '--lengths',
      '400',
      '--depths',
      '50',
      '--haystack-dir',
      hay,
      '--needle',
      ' The lighthouse keeper painted the door green.',
      '--question',
      '\n\nWhat did the keeper paint?',
      '--answer-prefix',
      '\nAnswer:',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.mode).toBe('classic');
    expect(json.cells[0].score).toBeGreaterThanOrEqual(0);
    expect(json.cells[0].score).toBeLessThanOrEqual(1);
  });

  it('refuses bad input before any work', async () => {
    const cases: [string[], RegExp][] = [
      [['--lengths', '300', '--haystack-dir', join(root, 'missing')], /missing|not found|no such/i],
      [['--lengths', '300', '--needle', 'fixed', '--question', 'what is {value}?'], /no place for it/],
      [['--lengths', '9000'], /exceed the model's context of 8192/],
      [['--lengths', '20'], /cannot build a 20-token prompt/],
      [['--lengths', '300', '--policy', 'duo'], /--policy duo needs --pattern/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli('niah', ...argv);
      expect(run.code, argv.join(' ')).not.toBe(0);
      expect(run.stderr, argv.join(' ')).toMatch(message);
      expect(run.stderr, argv.join(' ')).not.toMatch(/\[1\//);
    }
  });
});

describe('duo demo', () => {
  it('runs the main job on a small grid', async () => {
    const out = await mkdtemp(join(tmpdir(), 'duo-cli-demo-'));
    try {
      const run = await runCli('demo', '--lengths', '300', '--depths', '0,100', '--out', out);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/full +100\.0%/);
      // The needle at depth 0 is outside the streaming window: streaming heads lose it, the trained
      // pattern's retrieval heads keep it; the random control is printed beside them.
      expect(run.stdout).toMatch(/streaming +50\.0%/);
      expect(run.stdout).toMatch(/duo +100\.0%/);
      expect(run.stdout).toMatch(/random +\d/);
      expect(run.stdout).toContain('6 of 24 KV heads retrieval (sparsity 0.75)');
      expect(run.stdout).not.toContain('No trained DuoAttention pattern');
      expect(await readdir(out)).toEqual(
        expect.arrayContaining(['niah-streaming.png', 'niah-duo.png', 'niah-random.png']),
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
  it('says how to make the pattern when the toy model has none, and runs the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'duo-cli-demo-model-'));
    const previous = process.env.DUO_DEFAULT_MODEL;
    try {
      const toy = defaultModelDirectory();
      for (const file of await readdir(toy, { withFileTypes: true })) {
        if (file.isFile()) await copyFile(join(toy, file.name), join(dir, file.name));
      }
      process.env.DUO_DEFAULT_MODEL = dir;
      const run = await runCli('demo', '--lengths', '300', '--depths', '100', '--out', join(dir, 'out'));
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`No trained DuoAttention pattern at ${join(dir, 'pattern')}`);
      expect(run.stdout).toMatch(/streaming +\d/);
      expect(run.stdout).not.toMatch(/^(duo|random) /m);
    } finally {
      if (previous === undefined) delete process.env.DUO_DEFAULT_MODEL;
      else process.env.DUO_DEFAULT_MODEL = previous;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('duo generate', () => {
  it('reproduces HF greedy tokens from prompt ids', async () => {
    const { promptIds, tokens } = manifest.hf.greedy;
    const run = await runCli(
      'generate',
      '--model',
      model,
      '--backend',
      'reference',
      '--prompt-ids',
      promptIds.join(','),
      '--max-new-tokens',
      String(tokens.length),
      '--greedy',
      '--ignore-eos',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).tokens).toEqual(tokens);
  });

  it('streams text and accepts chat prompts and chunked prefill', async () => {
    const run = await runCli(
      'generate',
      '--model',
      model,
      '--backend',
      'reference',
      '--chat',
      '--prompt',
      'Hi',
      '--max-new-tokens',
      '4',
      '--prefill-chunk',
      '3',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/reference backend, full attention, prompt \d+ tokens/);
  });

  it('uses the cpu backend by default, never reference silently, and names bad input', async () => {
    const byDefault = await runCli('generate', '--model', model, '--prompt', 'x', '--max-new-tokens', '2');
    expect(byDefault.code, byDefault.stderr).toBe(0);
    expect(byDefault.stderr).toMatch(/^cpu backend/m);
    const unknown = await runCli('generate', '--model', model, '--backend', 'nope', '--prompt', 'x');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nope/);
    const bad = await runCli(
      'generate',
      '--model',
      model,
      '--backend',
      'reference',
      '--prompt-ids',
      '1,2,99999',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/99999/);
    expect((await runCli('generate', '--model', model, '--prompt', 'x', '--prompt-ids', '1')).code).toBe(2);
  });
});

describe('a model directory without tokenizer.json', () => {
  let weightsOnly: string;
  beforeAll(async () => {
    weightsOnly = await mkdtemp(join(tmpdir(), 'duo-cli-notok-'));
    for (const name of ['config.json', 'generation_config.json', 'model.safetensors']) {
      await copyFile(join(defaultModelDirectory(), name), join(weightsOnly, name));
    }
  });
  afterAll(async () => rm(weightsOnly, { recursive: true, force: true }));

  it('runs generate --prompt-ids and score --ids, and names the tokenizer only when text is asked for', async () => {
    const ids = '5,6,7,8';
    const generated = await runCli(
      'generate',
      '--model',
      weightsOnly,
      '--prompt-ids',
      ids,
      '--max-new-tokens',
      '3',
    );
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout.trim().split('\n')).toHaveLength(3);
    expect(generated.stdout).toMatch(/^(\d+\n){3}$/);
    const json = await runCli(
      'generate',
      '--model',
      weightsOnly,
      '--prompt-ids',
      ids,
      '--max-new-tokens',
      '3',
      '--json',
    );
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ text: null, tokens: expect.any(Array) });
    expect(JSON.parse(json.stdout).tokens).toEqual(generated.stdout.trim().split('\n').map(Number));
    const scored = await runCli('score', '--model', weightsOnly, '--ids', ids, '--prefill-length', '2');
    expect(scored.code, scored.stderr).toBe(0);
    const text = await runCli('generate', '--model', weightsOnly, '--prompt', 'hi', '--max-new-tokens', '2');
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/tokenizer\.json not found/);
    const stop = await runCli('generate', '--model', weightsOnly, '--prompt-ids', ids, '--stop', 'x');
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(/tokenizer\.json not found/);
  });
});

describe('duo score', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'duo-cli-score-'));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('matches the float64 DuoAttention goldens (mixed policy via a pattern, chunked prefill, decode)', async () => {
    const golden = await openGoldenModel('llama-gqa');
    const mixed = manifest.cases.find((c) => c.policy === 'mixed' && c.prefillChunkSize === 7)!;
    // The case's mask as a pattern directory: 0/1 gates binarise to themselves at threshold 0.5.
    const pattern = join(root, 'mixed');
    const alpha = mixed.mask.map((row) => row.join('\t')).join('\n');
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(pattern);
    await writeFile(
      join(pattern, 'config.json'),
      JSON.stringify({ sink_size: mixed.sinkSize, recent_size: mixed.recentSize }),
    );
    await writeFile(join(pattern, 'full_attention_heads.tsv'), `${alpha}\n`);
    const rows = [0, 20, 40, 47];
    const run = await runCli(
      'score',
      '--model',
      model,
      '--backend',
      'reference',
      '--ids',
      manifest.inputIds.join(','),
      '--prefill-length',
      String(mixed.prefillLength),
      '--prefill-chunk',
      String(mixed.prefillChunkSize),
      '--pattern',
      pattern,
      '--threshold',
      '0.5',
      '--rows',
      rows.join(','),
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    const expected = await golden.tensor(mixed.logits);
    const vocab = 320;
    const argmax = Array.from({ length: manifest.inputIds.length }, (_, p) => {
      const row = expected.subarray(p * vocab, (p + 1) * vocab);
      return row.indexOf(Math.max(...row));
    });
    expect(json.argmax).toEqual(argmax);
    for (const row of rows) {
      const got: number[] = json.logits[String(row)];
      const want = expected.subarray(row * vocab, (row + 1) * vocab);
      expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-3);
    }
  });

  it('validates rows and prefill length', async () => {
    const ids = manifest.inputIds.slice(0, 5).join(',');
    expect((await runCli('score', '--model', model, '--ids', ids, '--prefill-length', '9')).stderr).toMatch(
      /--prefill-length must be <= 5/,
    );
    expect(
      (await runCli('score', '--model', model, '--ids', ids, '--prefill-length', '2', '--rows', '7')).stderr,
    ).toMatch(/not a position/);
  });
});
