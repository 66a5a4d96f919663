// duo quantize and the --kv-dtype / --weights options of the model commands, on a golden fixture.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareLogits,
  fixturesDirectory,
  openGoldenModel,
  readGoldenManifestSync,
} from '@duo-attn/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

const model = join(fixturesDirectory(), 'llama-gqa');
const manifest = readGoldenManifestSync('llama-gqa');

describe('duo quantize', () => {
  let root: string;
  let out: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'duo-cli-quantize-'));
    out = join(root, 'w8a8');
    const run = await runCli(
      'quantize',
      '--model',
      model,
      '--out',
      out,
      '--calibration-sequences',
      '2',
      '--calibration-length',
      '32',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      alpha: 0.5,
      calibrationSequences: 2,
      calibrationLength: 32,
    });
    expect(run.stderr).toMatch(/\[2\/2\] calibration sequences/);
    expect(run.stderr).toMatch(/\[3\/3\] layers quantized/);
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('writes a checkpoint directory with the tokenizer', async () => {
    expect((await readdir(out)).sort()).toEqual([
      'checksums.json',
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
  });

  it('scores W8A8 with a KV4 cache on the reference backend, close to the float goldens', async () => {
    const golden = await openGoldenModel('llama-gqa');
    const ids = manifest.inputIds;
    const rows = Array.from({ length: ids.length }, (_, i) => i);
    const run = await runCli(
      'score',
      '--model',
      out,
      '--backend',
      'reference',
      '--kv-dtype',
      'int4',
      '--ids',
      ids.join(','),
      '--prefill-length',
      '30',
      '--prefill-chunk',
      '10',
      '--rows',
      rows.join(','),
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/W8A8 checkpoint/);
    const logits = new Float32Array(rows.flatMap((row) => JSON.parse(run.stdout).logits[String(row)]));
    const comparison = compareLogits(logits, await golden.tensor(manifest.hf.fullLogits), 320);
    // W8A8 + KV4 on the random-weight fixture (conformance bound 0.2 for this combination).
    expect(comparison.relativeError).toBeGreaterThan(0);
    expect(comparison.relativeError).toBeLessThanOrEqual(0.2);
  });

  it('prices the checkpoint as int8 weights and the cache in --kv-dtype', async () => {
    const json = JSON.parse((await runCli('info', '--model', out, '--kv-dtype', 'int4', '--json')).stdout);
    expect(json.memory.weightDtype).toBe('int8');
    // 3 layers × 2 KV heads × (K + V) × (16/2 codes + fp16 scale + fp16 zero).
    expect(json.memory.full.kvBytesPerToken).toBe(3 * 2 * 2 * 12);
  });

  it('refuses what a backend or the directory cannot do, naming it', async () => {
    const floatOnQuantized = await runCli(
      'score',
      '--model',
      out,
      '--weights',
      'float',
      '--ids',
      '1,2',
      '--prefill-length',
      '1',
    );
    expect(floatOnQuantized.code).toBe(2);
    expect(floatOnQuantized.stderr).toMatch(
      /quantized \(W8A8\) checkpoint; --weights float needs a float model/,
    );
    const cpuInt4 = await runCli(
      'score',
      '--model',
      model,
      '--kv-dtype',
      'int4',
      '--ids',
      '1,2',
      '--prefill-length',
      '1',
    );
    expect(cpuInt4.code).toBe(1);
    expect(cpuInt4.stderr).toMatch(/cacheDtype int4 is not supported/);
    expect(
      (await runCli('score', '--model', model, '--kv-dtype', 'int3', '--ids', '1', '--prefill-length', '1'))
        .code,
    ).toBe(2);
    const generateInt4 = (...backend: string[]) =>
      runCli(
        'generate',
        '--model',
        out,
        ...backend,
        '--kv-dtype',
        'int4',
        '--prompt-ids',
        '1,2,3',
        '--max-new-tokens',
        '2',
      );
    const refused = await generateInt4();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--kv-dtype int4: the cpu backend keeps fp32 KV caches/);
    const generated = await generateInt4('--backend', 'reference');
    expect(generated.code, generated.stderr).toBe(0);
    expect((await runCli('quantize', '--model', model)).stderr).toMatch(/--out DIR is required/);
    expect((await runCli('quantize', '--model', model, '--out', model)).stderr).toMatch(/--out must differ/);
  });

  it('runs W8A8 at load on a float model with --weights w8a8 (no smoothing), cpu backend', async () => {
    const run = await runCli(
      'score',
      '--model',
      model,
      '--weights',
      'w8a8',
      '--ids',
      manifest.inputIds.slice(0, 8).join(','),
      '--prefill-length',
      '8',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/quantized it to W8A8 without SmoothQuant/);
    expect(run.stderr).toMatch(/^cpu backend/m);
  });
});
