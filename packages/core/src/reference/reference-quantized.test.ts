// The reference executor with a KV4 cache and W8A8 weights: what must hold exactly (the cached codes
// are the codec's codes of the float cache's values, the first chunk is exact, reordering heads
// changes nothing, memory is the planner's), beyond the tolerance runs of the conformance suites.
import { describe, expect, it } from 'vitest';
import type { Executor, ModelSource } from '../backend/backend.js';
import { validateLoadRequest } from '../backend/validate-model.js';
import { createRandomModel } from '../model/random-model-source.js';
import { fullPolicy, policyFromMask } from '../policy/create-policy.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { planMemory } from '../policy/memory-planner.js';
import { quantizeKv4 } from '../quant/kv4-codec.js';
import { quantizeLinears } from '../quant/quantize-linears.js';
import { mulberry32 } from '../random.js';
import { createReferenceBackend } from './reference-backend.js';
import type { SequenceCache } from './sequence-cache.js';

const backend = createReferenceBackend();
const model = createRandomModel({
  seed: 9,
  numLayers: 2,
  hiddenSize: 64,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
});
const tokens = (() => {
  const random = mulberry32(4);
  return Array.from({ length: 30 }, () => Math.floor(random() * model.config.vocabSize));
})();
const mixed = (cacheDtype: 'fp32' | 'int4'): KvCachePolicy =>
  policyFromMask(
    [
      [1, 0],
      [0, 1],
    ],
    { sinkSize: 2, recentSize: 4, cacheDtype },
  );

/** The executor's cache of sequence 0 (test-only access to a private field). */
function cacheOf(executor: Executor): SequenceCache {
  return (executor as unknown as { sequences: SequenceCache[] }).sequences[0]!;
}

async function logits(source: ModelSource, policy: KvCachePolicy, chunks: number[]): Promise<Float32Array[]> {
  const executor = await backend.load(source, policy, { maxTokens: tokens.length });
  const out: Float32Array[] = [];
  let start = 0;
  for (const size of chunks) {
    out.push((await executor.forward(0, tokens.slice(start, start + size), { allLogits: true })).logits);
    start += size;
  }
  await executor.dispose();
  return out;
}

describe('reference executor with a KV4 cache', () => {
  it('attends to exact values in the first chunk: logits equal the float cache’s', async () => {
    const [float] = await logits(model, mixed('fp32'), [tokens.length]);
    const [kv4] = await logits(model, mixed('int4'), [tokens.length]);
    expect(kv4).toEqual(float);
  });

  it('caches the codec’s codes of the float cache’s keys and values, for both head classes', async () => {
    const float = await backend.load(model, mixed('fp32'), { maxTokens: 32 });
    const kv4 = await backend.load(model, mixed('int4'), { maxTokens: 32 });
    // One chunk: every layer's K/V are the same in both. Then a second chunk: layer 0's still are
    // (they depend on the embeddings only), so its codes must match there too.
    for (const chunk of [tokens.slice(0, 20), tokens.slice(20, 27)]) {
      await float.forward(0, chunk);
      await kv4.forward(0, chunk);
      const a = cacheOf(float);
      const b = cacheOf(kv4);
      const layers = chunk.length === 20 ? [0, 1] : [0];
      for (const layer of layers) {
        const f = a.layers[layer]!;
        const q = b.layers[layer]!.kv4!;
        const heads = 1; // one retrieval and one streaming KV head per layer in this mask
        const length = a.length;
        expect(b.layers[layer]!.streamingCount).toBe(f.streamingCount);
        const check = (values: Float32Array, count: number, groups: typeof q.retrievalKeys) => {
          const expected = quantizeKv4(values.subarray(0, count * heads * 16), 16);
          expect(groups.codes.subarray(0, count * 8)).toEqual(expected.codes);
          expect(groups.scales.subarray(0, count)).toEqual(expected.scales);
          expect(groups.zeros.subarray(0, count)).toEqual(expected.zeros);
        };
        check(f.retrievalKeys, length, q.retrievalKeys);
        check(f.retrievalValues, length, q.retrievalValues);
        check(f.streamingKeys, f.streamingCount, q.streamingKeys);
        check(f.streamingValues, f.streamingCount, q.streamingValues);
      }
    }
    await float.dispose();
    await kv4.dispose();
  });

  it('quantizes later chunks and decode steps: close to, but not equal to, the float cache', async () => {
    const chunks = [12, 5, 1, 1, 1, 10];
    const float = (await logits(model, mixed('fp32'), chunks)).slice(1);
    const kv4 = (await logits(model, mixed('int4'), chunks)).slice(1);
    let worst = 0;
    let max = 0;
    for (const [i, row] of float.entries()) {
      for (const [j, value] of row.entries()) {
        worst = Math.max(worst, Math.abs(value - kv4[i]![j]!));
        max = Math.max(max, Math.abs(value));
      }
    }
    expect(worst).toBeGreaterThan(0);
    // Random weights with sharpened attention and 16-value groups: 4 bits cost about 0.23 of the
    // largest logit here (the fixture models stay under 0.17, see the KV4 conformance suite).
    expect(worst / max).toBeLessThan(0.3);
  });

  it('reports the bytes the memory planner predicts (codes + fp16 scale and zero)', async () => {
    const policy = mixed('int4');
    const executor = await backend.load(model, policy, { maxTokens: 32 });
    await executor.forward(0, tokens.slice(0, 25));
    const plan = planMemory(model.config, policy, { weightDtype: 'fp32' });
    const memory = executor.memory();
    // Per token: 2 layers × 1 retrieval head × (K + V) × (16/2 + 4) bytes.
    expect(plan.policy.kvBytesPerToken).toBe(2 * 2 * 12);
    expect(memory.retrievalKvBytesUsed).toBe(25 * plan.policy.kvBytesPerToken);
    expect(memory.streamingKvBytesUsed).toBe(plan.policy.streamingKvBytes);
    await executor.dispose();
  });
});

describe('reference executor with W8A8 weights', () => {
  const w8a8 = quantizeLinears(model);

  it('gives the same first-chunk logits whichever heads come first (int8 sums are exact)', async () => {
    const [full] = await logits(w8a8, fullPolicy(model.config), [tokens.length]);
    const [reordered] = await logits(w8a8, mixed('fp32'), [tokens.length]);
    expect(reordered).toEqual(full);
  });

  it('differs from the float model by the int8 error only', async () => {
    const [float] = await logits(model, fullPolicy(model.config), [tokens.length]);
    const [int8] = await logits(w8a8, fullPolicy(model.config), [tokens.length]);
    // The dequantized float view alone (weights quantized, activations not) is closer still.
    const [view] = await logits({ config: model.config, weights: w8a8.weights }, fullPolicy(model.config), [
      tokens.length,
    ]);
    const error = (a: Float32Array) => Math.max(...a.map((value, i) => Math.abs(value - float![i]!)));
    const max = Math.max(...float!.map(Math.abs));
    expect(error(int8!)).toBeGreaterThan(0);
    expect(error(int8!) / max).toBeLessThan(0.05);
    expect(error(view!)).toBeLessThan(error(int8!));
  });

  it('holds int8 codes and scales, not the float view', async () => {
    const executor = await backend.load(w8a8, fullPolicy(model.config), { maxTokens: 8 });
    const floatBytes = 4 * (2 * model.config.vocabSize * 64 + 64 + 2 * 2 * 64);
    let int8Bytes = 0;
    for (const layer of w8a8.w8a8.layers) {
      for (const linear of Object.values(layer)) int8Bytes += linear.weight.length + 4 * linear.scale.length;
    }
    expect(executor.memory().weightBytes).toBe(floatBytes + int8Bytes);
    await executor.dispose();
  });

  it('is refused by a backend without the w8a8 weight format, and checked for shape', () => {
    const capabilities = { computeDtypes: ['fp32'], kvCacheDtypes: ['fp32' as const], training: false };
    const policy = fullPolicy(model.config);
    expect(() => validateLoadRequest('cpu', capabilities, w8a8, policy, { maxTokens: 8 })).toThrow(
      /cpu backend runs float weights; this model is W8A8/,
    );
    const broken = {
      ...w8a8,
      w8a8: {
        layers: [{ ...w8a8.w8a8.layers[0]!, upProj: w8a8.w8a8.layers[0]!.gateProj }, w8a8.w8a8.layers[1]!],
      },
    };
    const withFormat = { ...capabilities, weightFormats: ['w8a8' as const] };
    expect(() =>
      validateLoadRequest('x', withFormat, { ...broken, w8a8: { layers: [] } }, policy, { maxTokens: 8 }),
    ).toThrow(/W8A8 weights have 0 layers/);
    expect(() => validateLoadRequest('x', withFormat, broken, policy, { maxTokens: 8 })).not.toThrow();
  });

  it('is refused by gate training, which runs float weights', async () => {
    await expect(
      backend.loadGateTrainer!(w8a8, { maxTokens: 8, mask: { kind: 'token', sinkSize: 1, recentSize: 4 } }),
    ).rejects.toThrow(/trains gates on float weights; this model is W8A8/);
  });
});
