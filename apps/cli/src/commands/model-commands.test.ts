// info / generate / score on the golden fixture models: the CLI path must reproduce HF's numbers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturesDirectory, openGoldenModel, readGoldenManifestSync } from '@duo-attn/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

const model = join(fixturesDirectory(), 'llama-gqa');
const manifest = readGoldenManifestSync('llama-gqa');

describe('duo info', () => {
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
  it('scores a small grid and validates its templates', async () => {
    const run = await runCli(
      'niah',
      '--backend',
      'reference',
      '--lengths',
      '256',
      '--depths',
      '0,100',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.cells).toHaveLength(2);
    expect(json.summary.trials).toBe(2);
    expect(json.trials.every((t: { correct: boolean }) => t.correct)).toBe(true);
    const bad = await runCli('niah', '--lengths', '256', '--needle', 'no placeholder');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--needle must contain \{value\}/);
  }, 120_000);
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
