// Loads the model directories that HF transformers 5.17 wrote (packages/core/fixtures), so our reader
// is checked against the real writer's configs and safetensors, not only against our own writer.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from './float-conversion.js';
import { loadModel } from './load-model.js';
import { ropeFrequencies } from './rope.js';
import { SafetensorsCheckpoint } from './safetensors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures');
const names = ['llama-gqa', 'llama-mha-llama3', 'mistral'] as const;
const missing = names.filter((name) => !existsSync(join(fixtures, name, 'config.json')));
if (missing.length > 0) {
  console.warn(`HF fixtures absent (${missing.join(', ')} under ${fixtures}): skipping their loading tests`);
}
const present = (name: (typeof names)[number]): boolean => !missing.includes(name);

describe('HF transformers 5.17 fixtures', () => {
  it.skipIf(!present('llama-gqa'))('llama-gqa: sharded float32 Llama with grouped KV heads', async () => {
    const dir = join(fixtures, 'llama-gqa');
    const model = await loadModel(dir);
    expect(model.config).toMatchObject({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      vocabSize: 320,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 3,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      rmsNormEps: 1e-5,
      maxPositionEmbeddings: 256,
      tieWordEmbeddings: false,
      attentionBias: false,
      mlpBias: false,
      rope: { type: 'default', theta: 10000 },
      bosTokenId: 0,
      eosTokenIds: [1],
      slidingWindow: null,
      torchDtype: 'float32',
    });
    const checkpoint = await SafetensorsCheckpoint.open(dir);
    const files = new Set(checkpoint.names().map((name) => checkpoint.info(name).file));
    await checkpoint.close();
    expect(files.size).toBeGreaterThan(1);
    expect(model.weights.layers).toHaveLength(3);
    expect(model.weights.layers[2]!.kProj.length).toBe(2 * 16 * 64);
    expect(model.weights.lmHead).not.toBe(model.weights.embedTokens);
    expect(model.weights.embedTokens.some((v) => v !== 0)).toBe(true);
  });

  it.skipIf(!present('llama-mha-llama3'))('llama-mha-llama3: bfloat16, tied, llama3 RoPE', async () => {
    const model = await loadModel(join(fixtures, 'llama-mha-llama3'));
    expect(model.config).toMatchObject({
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 32,
      intermediateSize: 96,
      tieWordEmbeddings: true,
      torchDtype: 'bfloat16',
      rope: {
        type: 'llama3',
        theta: 10000,
        factor: 8,
        originalMaxPositionEmbeddings: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
      },
    });
    expect(model.weights.lmHead).toBe(model.weights.embedTokens);
    // Widened bfloat16: the low 16 bits of every float32 are zero.
    const bits = new Uint32Array(model.weights.layers[1]!.qProj.buffer);
    expect(bits.every((b) => (b & 0xffff) === 0)).toBe(true);
    // With L = 32 the llama3 bands all occur at head size 32.
    const { inverseFrequencies } = ropeFrequencies(model.config.rope, 32);
    expect(inverseFrequencies[0]).toBe(1);
  });

  it.skipIf(!present('mistral'))('mistral: float16, one KV head, no sliding window', async () => {
    const model = await loadModel(join(fixtures, 'mistral'));
    expect(model.config).toMatchObject({
      architecture: 'MistralForCausalLM',
      modelType: 'mistral',
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 1,
      headDim: 16,
      rmsNormEps: 1e-6,
      slidingWindow: null,
      torchDtype: 'float16',
      attentionBias: false,
    });
    const values = model.weights.layers[0]!.downProj;
    expect(values.length).toBe(64 * 96);
    expect(values.every((v) => float16BitsToFloat32(float32ToFloat16Bits(v)) === v)).toBe(true);
  });
});
