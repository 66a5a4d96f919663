import { mkdir, mkdtemp, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRandomModel,
  DuoError,
  loadModel,
  randomModelConfig,
  SafetensorsFile,
  writeRandomModel,
} from '@duo-attn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHECKSUMS_FILE, QUANT_WEIGHTS_FILE } from '../src/checkpoint-format.js';
import { QuantCheckpointError, QuantOptionsError } from '../src/quant-errors.js';
import { type QuantizedModel, quantizeModelW8A8 } from '../src/quantize-model.js';
import { hasQuantizationConfig, loadQuantizedModel } from '../src/read-checkpoint.js';
import { writeQuantizedCheckpoint } from '../src/write-checkpoint.js';

const calibration = [
  [1, 2, 3, 4, 5, 6],
  [7, 8, 9, 10],
];

async function freshDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'duo-quant-'));
}

async function catchError(promise: Promise<unknown>): Promise<DuoError> {
  try {
    await promise;
  } catch (error) {
    if (DuoError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function expectSameModel(
  loaded: QuantizedModel | Awaited<ReturnType<typeof loadQuantizedModel>>,
  model: QuantizedModel,
) {
  expect(loaded.config).toEqual(model.config);
  loaded.w8a8.layers.forEach((layer, index) => {
    const source = model.w8a8.layers[index]!;
    for (const name of Object.keys(layer) as (keyof typeof layer)[]) {
      expect(layer[name].weight).toEqual(source[name].weight);
      expect(layer[name].scale).toEqual(source[name].scale);
    }
  });
  expect(loaded.weights.embedTokens).toEqual(model.weights.embedTokens);
  expect(loaded.weights.lmHead).toEqual(model.weights.lmHead);
  expect(loaded.weights.norm).toEqual(model.weights.norm);
  loaded.weights.layers.forEach((layer, index) => {
    const source = model.weights.layers[index]!;
    for (const [name, value] of Object.entries(layer)) {
      expect(value, `layers.${index}.${name}`).toEqual(source[name as keyof typeof source]);
    }
  });
}

describe('quantized checkpoint', () => {
  let model: QuantizedModel;
  let tied: QuantizedModel;

  beforeAll(async () => {
    model = await quantizeModelW8A8(createRandomModel({ seed: 2, mlpBias: true }), {
      calibration,
    });
    tied = await quantizeModelW8A8(createRandomModel({ seed: 3, tieWordEmbeddings: true }), { calibration });
  });

  it('reloads exactly what was written (int8 codes, fp16 scales, float tensors, config)', async () => {
    for (const m of [model, tied]) {
      const dir = join(await freshDir(), 'q');
      await writeQuantizedCheckpoint(dir, m);
      expect((await readdir(dir)).sort()).toEqual([CHECKSUMS_FILE, 'config.json', QUANT_WEIGHTS_FILE]);
      const loaded = await loadQuantizedModel(dir);
      expectSameModel(loaded, m);
      expect(loaded.provenance).toEqual({ alpha: 0.5, calibrationSequences: 2, calibrationTokens: 10 });
      expect(await hasQuantizationConfig(dir)).toBe(true);
    }
  });

  it('stores int8 linears as I8 with F16 scales, and records method, version and checksums', async () => {
    const dir = join(await freshDir(), 'q');
    await writeQuantizedCheckpoint(dir, model);
    const file = await SafetensorsFile.open(join(dir, QUANT_WEIGHTS_FILE));
    expect(file.entry('model.layers.0.self_attn.q_proj.weight')).toMatchObject({
      dtype: 'I8',
      shape: [32, 32],
    });
    expect(file.entry('model.layers.1.mlp.down_proj.weight_scale')).toMatchObject({
      dtype: 'F16',
      shape: [32],
    });
    expect(file.entry('model.layers.1.input_layernorm.weight').dtype).toBe('F32');
    expect(file.entry('model.layers.0.mlp.gate_proj.bias').shape).toEqual([48]);
    await file.close();
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'duo-w8a8', format_version: 1 });
    const checksums = JSON.parse(await readFile(join(dir, CHECKSUMS_FILE), 'utf8'));
    expect(checksums.format_version).toBe(1);
    expect(checksums.tensors['lm_head.weight'].sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('builds on the float model directory: its config keys and tokenizer files carry over', async () => {
    const source = join(await freshDir(), 'float');
    const config = randomModelConfig({ seed: 4 });
    await writeRandomModel(source, config, { seed: 4 });
    await writeFile(join(source, 'generation_config.json'), '{"eos_token_id": [1, 2]}\n');
    await writeFile(join(source, 'tokenizer.json'), '{"not": "checked here"}\n');
    const float = await loadModel(source);
    const quantized = await quantizeModelW8A8(float, { calibration });
    const dir = join(await freshDir(), 'q');
    await writeQuantizedCheckpoint(dir, quantized, { sourceDirectory: source });
    expect((await readdir(dir)).sort()).toEqual([
      CHECKSUMS_FILE,
      'config.json',
      'generation_config.json',
      QUANT_WEIGHTS_FILE,
      'tokenizer.json',
    ]);
    const loaded = await loadQuantizedModel(dir);
    expect(loaded.eosTokenIds).toEqual([1, 2]);
    expectSameModel(loaded, quantized);
    // core's float loader cannot read it, and the directory says so.
    await expect(loadModel(dir)).rejects.toThrow(/I8/);
  });

  it('refuses another format version or method, naming config.json', async () => {
    const dir = join(await freshDir(), 'q');
    await writeQuantizedCheckpoint(dir, model);
    const file = join(dir, 'config.json');
    const config = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(
      file,
      JSON.stringify({
        ...config,
        quantization_config: { ...config.quantization_config, format_version: 2 },
      }),
    );
    const error = await catchError(loadQuantizedModel(dir));
    expect(error).toBeInstanceOf(QuantCheckpointError);
    expect(error.code).toBe('E_QUANT_VERSION');
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/format_version is 2/);
    await writeFile(file, JSON.stringify({ ...config, quantization_config: { quant_method: 'awq' } }));
    expect((await catchError(loadQuantizedModel(dir))).message).toMatch(/quant_method is "awq"/);
  });

  it('refuses a tensor whose bytes changed, naming the file and the tensor', async () => {
    const dir = join(await freshDir(), 'q');
    await writeQuantizedCheckpoint(dir, model);
    const path = join(dir, QUANT_WEIGHTS_FILE);
    const reader = await SafetensorsFile.open(path);
    const entry = reader.entry('model.layers.1.mlp.up_proj.weight');
    await reader.close();
    const handle = await open(path, 'r+');
    const byte = new Uint8Array(1);
    await handle.read(byte, 0, 1, entry.begin + 3);
    byte[0] = byte[0]! ^ 1;
    await handle.write(byte, 0, 1, entry.begin + 3);
    await handle.close();
    const error = await catchError(loadQuantizedModel(dir));
    expect(error.code).toBe('E_QUANT_CHECKSUM');
    expect(error.message).toContain(path);
    expect(error.message).toContain('"model.layers.1.mlp.up_proj.weight"');
    expect((error as QuantCheckpointError).tensor).toBe('model.layers.1.mlp.up_proj.weight');
  });

  it('refuses a checksum manifest that misses or adds a tensor', async () => {
    const dir = join(await freshDir(), 'q');
    await writeQuantizedCheckpoint(dir, model);
    const file = join(dir, CHECKSUMS_FILE);
    const manifest = JSON.parse(await readFile(file, 'utf8'));
    const { 'model.norm.weight': _, ...rest } = manifest.tensors;
    await writeFile(file, JSON.stringify({ ...manifest, tensors: rest }));
    expect((await catchError(loadQuantizedModel(dir))).message).toMatch(/"model.norm.weight".*no checksum/);
    await writeFile(
      file,
      JSON.stringify({
        ...manifest,
        tensors: { ...manifest.tensors, extra: manifest.tensors['model.norm.weight'] },
      }),
    );
    expect((await catchError(loadQuantizedModel(dir))).message).toMatch(/"extra".*does not have/);
    await writeFile(file, JSON.stringify({ ...manifest, format_version: 7 }));
    expect((await catchError(loadQuantizedModel(dir))).code).toBe('E_QUANT_VERSION');
  });

  it('replaces an earlier checkpoint, refuses other directories, and a failed write changes nothing', async () => {
    const parent = await freshDir();
    const dir = join(parent, 'q');
    await writeQuantizedCheckpoint(dir, tied);
    await writeQuantizedCheckpoint(dir, model);
    expectSameModel(await loadQuantizedModel(dir), model);

    const broken: QuantizedModel = {
      ...model,
      w8a8: {
        layers: model.w8a8.layers.map((layer) => ({
          ...layer,
          qProj: { ...layer.qProj, weight: new Int8Array(3) },
        })),
      },
    };
    await expect(writeQuantizedCheckpoint(dir, broken)).rejects.toThrow(/q_proj\.weight/);
    expectSameModel(await loadQuantizedModel(dir), model);
    expect(await readdir(parent)).toEqual(['q']);

    const other = join(parent, 'other');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'keep me');
    await expect(writeQuantizedCheckpoint(other, model)).rejects.toThrow(QuantOptionsError);
    expect(await readdir(other)).toEqual(['notes.txt']);
  });
});
