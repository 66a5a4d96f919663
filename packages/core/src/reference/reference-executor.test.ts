// Semantics of the reference executor (DESIGN §3), checked against a second, naive implementation.
import { describe, expect, it } from 'vitest';
import type { Executor, ModelSource } from '../backend/backend.js';
import { createRandomModel } from '../model/random-model-source.js';
import { fullPolicy, policyFromMask, streamingPolicy } from '../policy/create-policy.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { mulberry32 } from '../random.js';
import { createReferenceBackend } from './reference-backend.js';

const backend = createReferenceBackend();

function randomTokens(count: number, vocabSize: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => Math.floor(random() * vocabSize));
}

/** Runs `tokens` through a fresh executor in chunks of the given sizes; returns logits of every position. */
async function runChunks(
  model: ModelSource,
  policy: KvCachePolicy,
  tokens: readonly number[],
  chunks: readonly number[],
): Promise<Float32Array> {
  const executor = await backend.load(model, policy, { maxTokens: tokens.length });
  const out = new Float32Array(tokens.length * model.config.vocabSize);
  let start = 0;
  for (const size of chunks) {
    const result = await executor.forward(0, tokens.slice(start, start + size), { allLogits: true });
    expect(result.numRows).toBe(size);
    out.set(result.logits, start * model.config.vocabSize);
    start += size;
  }
  expect(start).toBe(tokens.length);
  expect(executor.length(0)).toBe(tokens.length);
  await executor.dispose();
  return out;
}

/** Chunk sizes covering `total` tokens: `size` each, the last one shorter. */
function chunksOf(total: number, size: number): number[] {
  const chunks: number[] = [];
  for (let start = 0; start < total; start += size) chunks.push(Math.min(size, total - start));
  return chunks;
}

function maxAbsDiff(
  a: Float32Array | Float64Array,
  b: Float32Array | Float64Array,
  from = 0,
  to = a.length,
): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = from; i < to; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/**
 * A second, deliberately naive implementation: whole sequence at once, float64, original weights
 * and head order, and an explicit visibility predicate per (layer, KV head, query p, key j) taken
 * from the table of DESIGN §3. `chunks` only decides, for each query, where its chunk starts.
 */
function naiveLogits(
  model: ModelSource,
  policy: KvCachePolicy,
  tokens: readonly number[],
  chunks: readonly number[],
) {
  const { config, weights } = model;
  const { hiddenSize: H, numHeads, numKvHeads, headDim: d, intermediateSize: I, vocabSize: V } = config;
  const T = tokens.length;
  const S = policy.sinkSize;
  const R = policy.recentSize;
  const chunkStart: number[] = [];
  let c = 0;
  for (const size of chunks) {
    for (let i = 0; i < size; i++) chunkStart.push(c);
    c += size;
  }
  const visible = (layer: number, kvHead: number, p: number, j: number): boolean => {
    if (j > p) return false;
    if (policy.layers[layer]!.retrievalKvHeads.includes(kvHead)) return true;
    const start = chunkStart[p]!;
    if (start === 0) return true; // first chunk: exact full attention
    return j < S || (j >= start - R && j < start) || j >= start;
  };
  const matmul = (x: number[][], w: Float32Array, outF: number, inF: number, bias?: Float32Array) =>
    x.map((row) =>
      Array.from({ length: outF }, (_, o) => {
        let s = bias ? bias[o]! : 0;
        for (let i = 0; i < inF; i++) s += row[i]! * w[o * inF + i]!;
        return s;
      }),
    );
  const norm = (x: number[][], w: Float32Array) =>
    x.map((row) => {
      const ms = row.reduce((a, v) => a + v * v, 0) / row.length;
      const inv = 1 / Math.sqrt(ms + config.rmsNormEps);
      return row.map((v, i) => v * inv * w[i]!);
    });
  const rope = (x: number[][], heads: number) =>
    x.map((row, p) => {
      const out = [...row];
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < d / 2; i++) {
          // Default RoPE, or linear scaling (frequencies divided by the factor).
          const factor = config.rope.type === 'linear' ? config.rope.factor! : 1;
          const angle = (p * config.rope.theta ** (-(2 * i) / d)) / factor;
          const a = row[h * d + i]!;
          const b = row[h * d + i + d / 2]!;
          out[h * d + i] = a * Math.cos(angle) - b * Math.sin(angle);
          out[h * d + i + d / 2] = b * Math.cos(angle) + a * Math.sin(angle);
        }
      }
      return out;
    });
  let hidden = tokens.map((id) => Array.from(weights.embedTokens.subarray(id * H, (id + 1) * H)));
  weights.layers.forEach((w, layer) => {
    const x = norm(hidden, w.inputNorm);
    const q = rope(matmul(x, w.qProj, numHeads * d, H, w.qBias), numHeads);
    const k = rope(matmul(x, w.kProj, numKvHeads * d, H, w.kBias), numKvHeads);
    const v = matmul(x, w.vProj, numKvHeads * d, H, w.vBias);
    const attention = hidden.map(() => new Array<number>(numHeads * d).fill(0));
    for (let p = 0; p < T; p++) {
      for (let h = 0; h < numHeads; h++) {
        const kvHead = Math.floor(h / (numHeads / numKvHeads));
        const scores: number[] = [];
        for (let j = 0; j < T; j++) {
          if (!visible(layer, kvHead, p, j)) {
            scores.push(Number.NEGATIVE_INFINITY);
            continue;
          }
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[p]![h * d + i]! * k[j]![kvHead * d + i]!;
          scores.push(dot / Math.sqrt(d));
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < T; j++) {
          for (let i = 0; i < d; i++) attention[p]![h * d + i]! += (e[j]! / sum) * v[j]![kvHead * d + i]!;
        }
      }
    }
    const o = matmul(attention, w.oProj, H, numHeads * d);
    hidden = hidden.map((row, t) => row.map((value, i) => value + o[t]![i]!));
    const y = norm(hidden, w.postAttentionNorm);
    const gate = matmul(y, w.gateProj, I, H, w.gateBias);
    const up = matmul(y, w.upProj, I, H, w.upBias);
    const act = gate.map((row, t) => row.map((g, i) => (g / (1 + Math.exp(-g))) * up[t]![i]!));
    const down = matmul(act, w.downProj, H, I, w.downBias);
    hidden = hidden.map((row, t) => row.map((value, i) => value + down[t]![i]!));
  });
  const logits = matmul(norm(hidden, weights.norm), weights.lmHead, V, H);
  return Float64Array.from(logits.flat());
}

describe('reference executor semantics', () => {
  const model = createRandomModel({ seed: 7, numLayers: 3, hiddenSize: 32, numHeads: 4, numKvHeads: 2 });
  const V = model.config.vocabSize;
  const tokens = randomTokens(20, V, 11);

  it('(a) gives the same logits for chunked and whole-prompt prefill under the full policy', async () => {
    const policy = fullPolicy(model.config);
    const whole = await runChunks(model, policy, tokens, [tokens.length]);
    for (const chunks of [chunksOf(20, 1), chunksOf(20, 3), chunksOf(20, 7), [5, 1, 1, 13]]) {
      expect(maxAbsDiff(await runChunks(model, policy, tokens, chunks), whole)).toBeLessThan(1e-5);
    }
  });

  it('(b) equals full attention when S + R covers the whole sequence', async () => {
    const full = await runChunks(model, fullPolicy(model.config), tokens, [tokens.length]);
    const streaming = streamingPolicy(model.config, { sinkSize: 4, recentSize: 16 });
    for (const chunks of [chunksOf(20, 1), chunksOf(20, 3), [8, ...chunksOf(12, 1)]]) {
      expect(maxAbsDiff(await runChunks(model, streaming, tokens, chunks), full)).toBeLessThan(1e-5);
    }
  });

  it('(c) differs from full attention at later positions with a small sink + recent window', async () => {
    const full = await runChunks(model, fullPolicy(model.config), tokens, [tokens.length]);
    const streaming = streamingPolicy(model.config, { sinkSize: 1, recentSize: 2 });
    const chunked = await runChunks(model, streaming, tokens, chunksOf(20, 4));
    // First chunk (positions 0..3) is exact full attention; later ones are not.
    expect(maxAbsDiff(chunked, full, 0, 4 * V)).toBeLessThan(1e-5);
    expect(maxAbsDiff(chunked, full, 16 * V, 20 * V)).toBeGreaterThan(1e-2);
  });

  describe('(d) matches a naive visibility-mask implementation', () => {
    const cases: [string, ModelSource][] = [
      ['GQA', model],
      [
        'MHA with biases and tied embeddings',
        createRandomModel({
          seed: 3,
          numLayers: 3,
          hiddenSize: 24,
          numHeads: 2,
          numKvHeads: 2,
          attentionBias: true,
          mlpBias: true,
          tieWordEmbeddings: true,
        }),
      ],
      [
        'linear RoPE scaling',
        createRandomModel({ seed: 4, numLayers: 3, rope: { type: 'linear', theta: 100, factor: 2.5 } }),
      ],
    ];
    const schedules: [string, number[]][] = [
      ['chunk 1', chunksOf(20, 1)],
      ['chunk 3', chunksOf(20, 3)],
      ['whole prompt', [20]],
      ['prefill 9 then decode', [9, ...chunksOf(11, 1)]],
      ['prefill in chunks of 4 then decode', [4, 4, 4, ...chunksOf(8, 1)]],
    ];
    for (const [modelName, source] of cases) {
      for (const [scheduleName, chunks] of schedules) {
        it(`${modelName}, ${scheduleName}`, async () => {
          const policy = policyFromMask(
            [
              [1, 0],
              [0, 1],
              [1, 1],
            ],
            { sinkSize: 2, recentSize: 3 },
          );
          const ids = randomTokens(20, source.config.vocabSize, 5);
          const expected = naiveLogits(source, policy, ids, chunks);
          const actual = await runChunks(source, policy, ids, chunks);
          expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-4);
        });
      }
    }

    it('the naive check is sensitive: a wrong window is detected', async () => {
      const policy = policyFromMask(
        [
          [1, 0],
          [0, 1],
          [1, 1],
        ],
        { sinkSize: 2, recentSize: 3 },
      );
      const chunks = chunksOf(20, 3);
      const expected = naiveLogits(model, { ...policy, recentSize: 4 }, tokens, chunks);
      const actual = await runChunks(model, policy, tokens, chunks);
      expect(maxAbsDiff(actual, expected)).toBeGreaterThan(1e-3);
    });
  });

  it('runs dynamic-NTK RoPE as default RoPE while the sequence is within maxPositionEmbeddings', async () => {
    const dynamic = createRandomModel({
      seed: 7,
      numLayers: 3,
      maxPositionEmbeddings: 32,
      rope: { type: 'dynamic', theta: 10000, factor: 4, originalMaxPositionEmbeddings: 32 },
    });
    const policy = fullPolicy(dynamic.config);
    const reference = await runChunks(model, policy, tokens, chunksOf(20, 6));
    expect(maxAbsDiff(await runChunks(dynamic, policy, tokens, chunksOf(20, 6)), reference)).toBe(0);
    // Past it, frequencies are rescaled, so the last positions change.
    const longer = randomTokens(40, V, 12);
    const plain = await runChunks(model, policy, longer, [40]);
    const scaled = await runChunks(dynamic, policy, longer, [40]);
    expect(maxAbsDiff(scaled, plain, 39 * V, 40 * V)).toBeGreaterThan(1e-3);
  });

  it('returns last-position logits by default and matches the allLogits last row', async () => {
    const executor = await backend.load(model, fullPolicy(model.config), { maxTokens: 32, maxSequences: 2 });
    const last = await executor.forward(0, tokens.slice(0, 6));
    const all = await executor.forward(1, tokens.slice(0, 6), { allLogits: true });
    expect(last.numRows).toBe(1);
    expect(last.vocabSize).toBe(V);
    expect(last.logits.length).toBe(V);
    expect(maxAbsDiff(last.logits, all.logits.subarray(5 * V))).toBe(0);
    await executor.dispose();
  });

  it('keeps sequences independent, and reset forgets one', async () => {
    const policy = policyFromMask(
      [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
      { sinkSize: 1, recentSize: 2 },
    );
    const executor = await backend.load(model, policy, { maxTokens: 32, maxSequences: 2 });
    const alone = await runChunks(model, policy, tokens.slice(0, 12), chunksOf(12, 4));
    const other = randomTokens(12, V, 99);
    const rows: Float32Array[] = [];
    for (let start = 0; start < 12; start += 4) {
      await executor.forward(1, other.slice(start, start + 4));
      rows.push((await executor.forward(0, tokens.slice(start, start + 4), { allLogits: true })).logits);
    }
    expect(executor.length(0)).toBe(12);
    expect(executor.length(1)).toBe(12);
    const interleaved = new Float32Array(12 * V);
    rows.forEach((row, i) => {
      interleaved.set(row, i * 4 * V);
    });
    expect(maxAbsDiff(interleaved, alone)).toBe(0);
    executor.reset(1);
    expect(executor.length(1)).toBe(0);
    expect(executor.length(0)).toBe(12);
    const again = await executor.forward(1, tokens.slice(0, 4), { allLogits: true });
    expect(maxAbsDiff(again.logits, alone.subarray(0, 4 * V))).toBe(0);
    await executor.dispose();
  });

  it('reports KV memory per head class in fp32 bytes', async () => {
    // 3 layers; retrieval heads per layer [1, 1, 2], streaming [1, 1, 0]; headDim 8; S + R = 3.
    const policy = policyFromMask(
      [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
      { sinkSize: 1, recentSize: 2 },
    );
    const executor: Executor = await backend.load(model, policy, { maxTokens: 100, maxSequences: 2 });
    expect(executor.memory()).toMatchObject({ kvBytesAllocated: 0, kvBytesUsed: 0 });
    await executor.forward(0, tokens.slice(0, 10));
    const perToken = 2 * (1 + 1 + 2) * 8 * 4; // K and V, retrieval heads, headDim 8, fp32
    const streamingFull = 2 * 3 * (1 + 1) * 8 * 4;
    const memory = executor.memory();
    expect(memory.retrievalKvBytesUsed).toBe(10 * perToken);
    expect(memory.streamingKvBytesUsed).toBe(streamingFull);
    expect(memory.kvBytesUsed).toBe(10 * perToken + streamingFull);
    // Retrieval caches start at 16 tokens of capacity.
    expect(memory.kvBytesAllocated).toBe(16 * perToken + streamingFull);
    await executor.forward(1, tokens.slice(0, 2));
    expect(executor.memory().streamingKvBytesUsed).toBe(streamingFull + 2 * 2 * 2 * 8 * 4);
    const { config } = model;
    const h = config.hiddenSize;
    const perLayer =
      2 * h + 2 * config.numHeads * config.headDim * h + 2 * config.numKvHeads * config.headDim * h;
    const mlp = 3 * h * config.intermediateSize;
    expect(memory.weightBytes).toBe(4 * (2 * config.vocabSize * h + h + config.numLayers * (perLayer + mlp)));
    await executor.dispose();
  });
});
