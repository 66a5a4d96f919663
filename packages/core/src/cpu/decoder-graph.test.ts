// The decoder graph against the reference backend: random tiny models (GQA, MHA with biases and
// tied embeddings), full/streaming/mixed policies, chunked prefill and decode, with the KV caches
// driven here exactly as buildDecoderGraph's documentation tells the executor to.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelSource } from '../backend/backend.js';
import type { ModelConfig } from '../model/model-types.js';
import { createRandomModel } from '../model/random-model-source.js';
import { fullPolicy, policyFromMask, streamingPolicy } from '../policy/create-policy.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { mulberry32 } from '../random.js';
import { createReferenceBackend } from '../reference/reference-backend.js';
import { buildDecoderGraph, type DecoderGraph, DecoderGraphNames as N, ropeInputs } from './decoder-graph.js';

const ort = await import('onnxruntime-node');

const directories: string[] = [];
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

/** One group's cache: `[count, heads, d]` f32, token-major. */
interface GroupCache {
  data: Float32Array;
  values: Float32Array;
  count: number;
}

/** Drives one session for one sequence: keeps caches, appends new K/V, compresses streaming caches. */
class Driver {
  private position = 0;
  private readonly caches: { r?: GroupCache; s?: GroupCache }[];

  constructor(
    private readonly session: InferenceSession,
    private readonly graph: DecoderGraph,
    private readonly config: ModelConfig,
    private readonly policy: KvCachePolicy,
  ) {
    const empty = (): GroupCache => ({ data: new Float32Array(0), values: new Float32Array(0), count: 0 });
    this.caches = graph.layers.map((split) => ({
      ...(split.retrieval > 0 && { r: empty() }),
      ...(split.streaming > 0 && { s: empty() }),
    }));
  }

  /** Runs one call; returns logits `[T - logitsFrom, vocab]`. */
  async forward(tokens: readonly number[], logitsFrom = 0): Promise<Float32Array> {
    const { headDim: d } = this.config;
    const T = tokens.length;
    const positions = Array.from({ length: T }, (_, t) => this.position + t);
    const { cos, sin } = ropeInputs(this.config, positions);
    const feeds: Record<string, Tensor> = {
      [N.inputIds]: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [T]),
      [N.ropeCos]: new ort.Tensor('float32', cos, [T, d / 2]),
      [N.ropeSin]: new ort.Tensor('float32', sin, [T, d / 2]),
      [N.logitsFrom]: new ort.Tensor('int64', BigInt64Array.from([BigInt(logitsFrom)]), [1]),
    };
    this.graph.layers.forEach((split, layer) => {
      for (const [group, heads] of [
        ['r', split.retrieval],
        ['s', split.streaming],
      ] as const) {
        const cache = this.caches[layer]![group];
        if (cache === undefined) continue;
        // Row 0 of a past input is padding the graph ignores (filled with garbage to prove it).
        const padding = new Float32Array(heads * d).fill(1e3);
        const dims = [1 + cache.count, heads, d];
        feeds[N.pastKey(group, layer)] = new ort.Tensor('float32', concat(padding, cache.data), dims);
        feeds[N.pastValue(group, layer)] = new ort.Tensor('float32', concat(padding, cache.values), dims);
        feeds[N.pastLength(group)] = new ort.Tensor('int64', BigInt64Array.of(BigInt(cache.count)), [1]);
      }
    });
    const out = await this.session.run(feeds);
    const window = this.policy.sinkSize + this.policy.recentSize;
    this.graph.layers.forEach((split, layer) => {
      for (const [group, heads] of [
        ['r', split.retrieval],
        ['s', split.streaming],
      ] as const) {
        const cache = this.caches[layer]![group];
        if (cache === undefined) continue;
        const newKey = out[N.newKey(group, layer)]!;
        const newValue = out[N.newValue(group, layer)]!;
        expect(newKey.dims).toEqual([T, heads, d]);
        let keys = concat(cache.data, newKey.data as Float32Array);
        let values = concat(cache.values, newValue.data as Float32Array);
        let count = cache.count + T;
        if (group === 's' && count > window) {
          keys = compress(keys, count, heads * d, this.policy.sinkSize, this.policy.recentSize);
          values = compress(values, count, heads * d, this.policy.sinkSize, this.policy.recentSize);
          count = window;
        }
        this.caches[layer]![group] = { data: keys, values, count };
      }
    });
    this.position += T;
    const logits = out[N.logits]!;
    expect(logits.dims).toEqual([T - logitsFrom, this.config.vocabSize]);
    return logits.data as Float32Array;
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** First `sink` and last `recent` tokens of `[count, tokenSize]`. */
function compress(
  data: Float32Array,
  count: number,
  tokenSize: number,
  sink: number,
  recent: number,
): Float32Array {
  const out = new Float32Array((sink + recent) * tokenSize);
  out.set(data.subarray(0, sink * tokenSize));
  out.set(data.subarray((count - recent) * tokenSize, count * tokenSize), sink * tokenSize);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

async function build(model: ModelSource, policy: KvCachePolicy, linear?: 'matmul' | 'gemm') {
  const dir = await mkdtemp(join(tmpdir(), 'duo-decoder-'));
  directories.push(dir);
  const graph = await buildDecoderGraph(model, policy, { directory: dir, ...(linear && { linear }) });
  const session = await ort.InferenceSession.create(graph.modelPath);
  return { graph, session };
}

/** Prompt in chunks of `chunk` tokens, then `decodeSteps` single tokens; every row compared. */
async function compare(
  model: ModelSource,
  policy: KvCachePolicy,
  prompt: readonly number[],
  chunk: number,
  decode: readonly number[],
  linear?: 'matmul' | 'gemm',
): Promise<number> {
  const { graph, session } = await build(model, policy, linear);
  const executor = await createReferenceBackend().load(model, policy, { maxTokens: 64 });
  const driver = new Driver(session, graph, model.config, policy);
  let worst = 0;
  const calls: number[][] = [];
  for (let i = 0; i < prompt.length; i += chunk) calls.push(prompt.slice(i, i + chunk));
  for (const token of decode) calls.push([token]);
  for (const call of calls) {
    const expected = await executor.forward(0, call, { allLogits: true });
    const actual = await driver.forward(call, 0);
    worst = Math.max(worst, maxAbsDiff(actual, expected.logits));
  }
  await executor.dispose();
  await session.release();
  await graph.dispose();
  return worst;
}

const random = mulberry32(7);
const tokens = (n: number, vocab: number) => Array.from({ length: n }, () => Math.floor(random() * vocab));

const gqa = createRandomModel({ seed: 3, numLayers: 2, hiddenSize: 32, numHeads: 4, numKvHeads: 2 });
const mha = createRandomModel({
  seed: 5,
  numLayers: 2,
  hiddenSize: 48,
  numHeads: 3,
  numKvHeads: 3,
  attentionBias: true,
  mlpBias: true,
  tieWordEmbeddings: true,
});
const wideGqa = createRandomModel({
  seed: 9,
  numLayers: 3,
  hiddenSize: 32,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
});

const streaming = { sinkSize: 2, recentSize: 3 };
const cases: { name: string; model: ModelSource; policy: KvCachePolicy }[] = [
  { name: 'GQA full', model: gqa, policy: fullPolicy(gqa.config) },
  { name: 'GQA streaming', model: gqa, policy: streamingPolicy(gqa.config, streaming) },
  {
    name: 'GQA mixed',
    model: gqa,
    policy: policyFromMask(
      [
        [0, 1],
        [1, 0],
      ],
      streaming,
    ),
  },
  { name: 'MHA+bias+tied full', model: mha, policy: fullPolicy(mha.config) },
  { name: 'MHA+bias+tied streaming', model: mha, policy: streamingPolicy(mha.config, streaming) },
  {
    name: 'MHA+bias+tied mixed',
    model: mha,
    policy: policyFromMask(
      [
        [0, 1, 0],
        [1, 1, 0],
      ],
      streaming,
    ),
  },
  {
    name: 'GQA 4 KV heads, reordered mixed',
    model: wideGqa,
    policy: policyFromMask(
      [
        [0, 1, 0, 1],
        [1, 1, 1, 1],
        [0, 0, 1, 0],
      ],
      streaming,
    ),
  },
];

describe('buildDecoderGraph vs the reference backend', () => {
  const prompt = tokens(11, 64);
  const decode = tokens(3, 64);
  for (const { name, model, policy } of cases) {
    for (const chunk of [1, 3, prompt.length]) {
      it(`${name}, chunk ${chunk}`, async () => {
        expect(await compare(model, policy, prompt, chunk, decode)).toBeLessThan(1e-4);
      });
    }
  }

  it('uses prompts long enough that streaming heads change the logits', async () => {
    // Otherwise the streaming cases above could not tell a wrong cache rule from a right one.
    const full = await createReferenceBackend().load(gqa, fullPolicy(gqa.config), { maxTokens: 64 });
    const stream = await createReferenceBackend().load(gqa, streamingPolicy(gqa.config, streaming), {
      maxTokens: 64,
    });
    await full.forward(0, prompt);
    await stream.forward(0, prompt);
    const a = await full.forward(0, decode.slice(0, 1));
    const b = await stream.forward(0, decode.slice(0, 1));
    expect(maxAbsDiff(a.logits, b.logits)).toBeGreaterThan(1e-2);
  });

  it('gives the same logits with Gemm linear layers', async () => {
    const policy = policyFromMask(
      [
        [0, 1, 0],
        [1, 1, 0],
      ],
      streaming,
    );
    expect(await compare(mha, policy, prompt, 3, decode, 'gemm')).toBeLessThan(1e-4);
  });

  it('returns only rows from logits_from, and omits absent groups', async () => {
    const policy = policyFromMask(
      [
        [1, 1],
        [0, 0],
      ],
      streaming,
    );
    const { graph, session } = await build(gqa, policy);
    expect(graph.layers).toEqual([
      { retrieval: 2, streaming: 0 },
      { retrieval: 0, streaming: 2 },
    ]);
    expect(session.inputNames).toEqual([
      'input_ids',
      'rope_cos',
      'rope_sin',
      'logits_from',
      'past_length_r',
      'past_length_s',
      'past_key_r0',
      'past_value_r0',
      'past_key_s1',
      'past_value_s1',
    ]);
    expect(session.outputNames).toContain('new_key_s1');
    expect(session.outputNames).not.toContain('new_key_s0');
    const driver = new Driver(session, graph, gqa.config, policy);
    const call = tokens(5, 64);
    const all = await new Driver(session, graph, gqa.config, policy).forward(call, 0);
    const lastTwo = await driver.forward(call, 3);
    expect(maxAbsDiff(lastTwo, all.subarray(3 * 64))).toBe(0);
    await session.release();
    await graph.dispose();
  });
});

describe('ropeInputs', () => {
  it('gives cos/sin rows for arbitrary positions', () => {
    const config = gqa.config;
    const { cos, sin } = ropeInputs(config, [0, 5]);
    expect(cos.length).toBe(2 * (config.headDim / 2));
    expect(cos[0]).toBe(1);
    expect(sin[0]).toBe(0);
    expect(cos[config.headDim / 2]).toBeCloseTo(Math.cos(5), 6);
    expect(sin[config.headDim / 2]).toBeCloseTo(Math.sin(5), 6);
    expect(() => ropeInputs(config, [-1])).toThrow(/non-negative/);
  });
});
