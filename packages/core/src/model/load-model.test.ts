import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float-conversion.js';
import { loadModel } from './load-model.js';
import { expectedTensors } from './load-weights.js';
import type { ModelConfig } from './model-types.js';
import { randomWeight, toHfConfigJson, writeRandomModel } from './random-model.js';
import { writeSafetensors } from './safetensors-writer.js';

const llamaGqa: ModelConfig = {
  architecture: 'LlamaForCausalLM',
  modelType: 'llama',
  vocabSize: 32,
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 4,
  rmsNormEps: 1e-5,
  maxPositionEmbeddings: 128,
  tieWordEmbeddings: false,
  attentionBias: false,
  mlpBias: false,
  rope: {
    type: 'llama3',
    theta: 500000,
    factor: 8,
    originalMaxPositionEmbeddings: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
  },
  hiddenAct: 'silu',
  bosTokenId: 0,
  eosTokenIds: [1],
  slidingWindow: null,
  torchDtype: 'float32',
};

const qwen: ModelConfig = {
  ...llamaGqa,
  architecture: 'Qwen2ForCausalLM',
  modelType: 'qwen2',
  attentionBias: true,
  tieWordEmbeddings: true,
  rope: {
    type: 'yarn',
    theta: 1e6,
    factor: 4,
    originalMaxPositionEmbeddings: 32,
    betaFast: 32,
    betaSlow: 1,
    truncate: true,
  },
};

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'duo-load-model-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshDir = (): string => join(root, `model-${counter++}`);

async function rejection(promise: Promise<unknown>): Promise<DuoError> {
  try {
    await promise;
  } catch (error) {
    if (DuoError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('loadModel', () => {
  it('round-trips a random F32 model: config and every weight', async () => {
    const dir = freshDir();
    await writeRandomModel(dir, llamaGqa, { seed: 7 });
    const model = await loadModel(dir);
    expect(model.directory).toBe(dir);
    expect(model.config).toEqual(llamaGqa);
    expect(model.generationConfig).toBeUndefined();
    expect(model.eosTokenIds).toEqual([1]);
    expect(model.weights.lmHead).not.toBe(model.weights.embedTokens);
    expect([...model.weights.lmHead]).toEqual([...randomWeight('lm_head.weight', [32, 16], 7)]);
    expect([...model.weights.layers[1]!.kProj]).toEqual([
      ...randomWeight('model.layers.1.self_attn.k_proj.weight', [8, 16], 7),
    ]);
    expect([...model.weights.layers[0]!.inputNorm]).toEqual([
      ...randomWeight('model.layers.0.input_layernorm.weight', [16], 7),
    ]);
  });

  it('reads both config styles to the same config', async () => {
    const a = freshDir();
    const b = freshDir();
    await writeRandomModel(a, llamaGqa, { configStyle: 'rope_parameters' });
    await writeRandomModel(b, llamaGqa, { configStyle: 'rope_scaling' });
    expect((await loadModel(a)).config).toEqual((await loadModel(b)).config);
  });

  it.each([
    ['F16', (v: number) => float16BitsToFloat32(float32ToFloat16Bits(v))],
    ['BF16', (v: number) => bfloat16BitsToFloat32(float32ToBfloat16Bits(v))],
  ] as const)('widens a %s checkpoint to float32', async (dtype, round) => {
    const dir = freshDir();
    await writeRandomModel(dir, llamaGqa, { dtype });
    const model = await loadModel(dir);
    const name = 'model.layers.1.mlp.gate_proj.weight';
    expect([...model.weights.layers[1]!.gateProj]).toEqual([...randomWeight(name, [24, 16])].map(round));
  });

  it('loads a sharded checkpoint exactly like a single file', async () => {
    const single = freshDir();
    const sharded = freshDir();
    await writeRandomModel(single, llamaGqa, { seed: 3 });
    await writeRandomModel(sharded, llamaGqa, { seed: 3, shards: 3 });
    expect(readdirSync(sharded).filter((f) => f.endsWith('.safetensors'))).toHaveLength(3);
    expect(existsSync(join(sharded, 'model.safetensors'))).toBe(false);
    const a = await loadModel(single);
    const b = await loadModel(sharded);
    expect(b.weights).toEqual(a.weights);
  });

  it('loads Qwen2 biases and tied embeddings', async () => {
    const dir = freshDir();
    await writeRandomModel(dir, qwen);
    const model = await loadModel(dir);
    expect(model.config.rope).toEqual(qwen.rope);
    expect(model.weights.lmHead).toBe(model.weights.embedTokens);
    const layer = model.weights.layers[0]!;
    expect(layer.qBias?.length).toBe(16);
    expect(layer.kBias?.length).toBe(8);
    expect([...layer.vBias!]).toEqual([...randomWeight('model.layers.0.self_attn.v_proj.bias', [8])]);
  });

  it('takes eos ids from generation_config.json over config.json', async () => {
    const dir = freshDir();
    await writeRandomModel(dir, llamaGqa);
    await writeFile(
      join(dir, 'generation_config.json'),
      JSON.stringify({ eos_token_id: [1, 9], do_sample: true, temperature: 0.6, top_p: 0.9 }),
    );
    const model = await loadModel(dir);
    expect(model.generationConfig).toEqual({
      eosTokenIds: [1, 9],
      doSample: true,
      temperature: 0.6,
      topP: 0.9,
    });
    expect(model.eosTokenIds).toEqual([1, 9]);
    expect(model.config.eosTokenIds).toEqual([1]);

    await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 0 }));
    expect((await loadModel(dir)).eosTokenIds).toEqual([1]);

    await writeFile(join(dir, 'generation_config.json'), '{ nope');
    const error = await rejection(loadModel(dir));
    expect(error.code).toBe('E_MODEL_CONFIG');
    expect(error.message).toMatch(/generation_config\.json: invalid JSON/);
  });

  describe('errors', () => {
    it('missing config.json', async () => {
      const error = await rejection(loadModel(freshDir()));
      expect(error.code).toBe('E_MODEL_CONFIG');
      expect(error.message).toMatch(/config\.json: file not found/);
    });

    it('config that disagrees with the weights', async () => {
      const dir = freshDir();
      await writeRandomModel(dir, llamaGqa);
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({ ...toHfConfigJson(llamaGqa), intermediate_size: 32 }),
      );
      const error = await rejection(loadModel(dir));
      expect(error.code).toBe('E_MODEL_WEIGHTS');
      expect(error.message).toMatch(
        /model\.layers\.0\.mlp\.gate_proj\.weight.*shape \[24, 16\].*expected \[32, 16\]/,
      );
    });

    it('missing weights file', async () => {
      const dir = freshDir();
      await writeRandomModel(dir, llamaGqa);
      await unlink(join(dir, 'model.safetensors'));
      expect((await rejection(loadModel(dir))).code).toBe('E_CHECKPOINT');
    });

    it('closes every file when a read fails midway', async () => {
      const dir = freshDir();
      await writeRandomModel(dir, llamaGqa, { shards: 2 });
      // Replace the last shard with one whose final tensor has a dtype we cannot widen.
      const tensors = expectedTensors(llamaGqa);
      const last = tensors.slice(Math.ceil(tensors.length / 2));
      const shard = join(dir, 'model-00002-of-00002.safetensors');
      const contents = Object.fromEntries(
        last.map((t) => [
          t.name,
          { dtype: 'F32' as const, shape: t.shape, data: randomWeight(t.name, t.shape) },
        ]),
      );
      await writeSafetensors(shard, contents);
      const { readFile: read } = await import('node:fs/promises');
      const bytes = await read(shard);
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const header = bytes
        .subarray(8, 8 + headerLength)
        .toString('utf8')
        .replace('"lm_head.weight":{"dtype":"F32"', '"lm_head.weight":{"dtype":"I32"');
      await writeFile(
        shard,
        Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + headerLength)]),
      );

      const openFds = (): number => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
      const before = openFds();
      const error = await rejection(loadModel(dir));
      expect(error.code).toBe('E_SAFETENSORS_DTYPE');
      expect(error.message).toMatch(/"lm_head\.weight".*I32/);
      expect(openFds()).toBe(before);
    });

    it('aborts with the signal reason', async () => {
      const dir = freshDir();
      await writeRandomModel(dir, llamaGqa);
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      await expect(loadModel(dir, { signal: controller.signal })).rejects.toThrow('stop');
    });
  });
});
