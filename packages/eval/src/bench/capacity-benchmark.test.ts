// The capacity benchmark on the reference backend with budgets of a few MB: real executors are
// loaded, filled and decoded at every candidate; only the budget is small.
import {
  createRandomModel,
  createReferenceBackend,
  fullPolicy,
  type KvCacheDtype,
  type KvCachePolicy,
  type ModelSource,
  policyFromMask,
  quantizeLinears,
  streamingPolicy,
  type WeightFormat,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { benchmarkCapacity } from './capacity-benchmark.js';
import { capacityCombinations } from './capacity-combinations.js';

const model = createRandomModel({ seed: 3, numLayers: 2, hiddenSize: 32, numHeads: 4, numKvHeads: 2 });
const w8a8 = { ...model, ...quantizeLinears(model) };
const backend = createReferenceBackend();
const MIB = 2 ** 20;

function policyFor(name: string, cacheDtype: KvCacheDtype): KvCachePolicy {
  if (name === 'full') return fullPolicy(model.config, { cacheDtype });
  if (name === 'streaming') return streamingPolicy(model.config, { sinkSize: 4, recentSize: 8, cacheDtype });
  // One retrieval head per layer out of two.
  return policyFromMask(
    [
      [1, 0],
      [0, 1],
    ],
    { sinkSize: 4, recentSize: 8, cacheDtype },
  );
}

const sources: Record<WeightFormat, ModelSource> = { float: model, w8a8 };
const load = (weights: WeightFormat, policy: KvCachePolicy, maxTokens: number) =>
  backend.load(sources[weights], policy, { maxTokens });

describe('benchmarkCapacity', () => {
  it('verifies the planned figure when the planner counts what the executor holds (float, fp32 and int4 KV)', async () => {
    const rows = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['float'], ['fp32', 'int4'], ['full', 'duo:0.5']),
      policyFor,
      load,
      memoryBytes: 2 * MIB,
      headroomBytes: 64 * 1024,
      at: [256, 100_000_000],
      steps: 2,
      warmup: 1,
    });
    expect(rows.map((r) => [r.kvDtype, r.policy, r.status])).toEqual([
      ['fp32', 'full', 'measured'],
      ['fp32', 'duo:0.5', 'measured'],
      ['int4', 'full', 'measured'],
      ['int4', 'duo:0.5', 'measured'],
    ]);
    for (const row of rows) {
      const plan = row.plan!;
      // 2 layers x 2 KV heads x 8 dims x (K + V): 4 bytes each in fp32, int4 = 4 code bytes + fp16 scale and zero.
      const perHead = row.kvDtype === 'fp32' ? 32 : 8;
      expect(plan.kvBytesPerToken).toBe((row.policy === 'full' ? 2 * 2 * 2 : 2 * 1 * 2) * perHead);
      expect(row.plannedTokens).toBe(
        Math.floor((2 * MIB - 64 * 1024 - plan.weightBytes - plan.streamingKvBytes) / plan.kvBytesPerToken),
      );
      // The plan holds on the first probe, and the executor's own report equals the planner's bytes.
      expect(row.verifiedTokens).toBe(row.plannedTokens);
      expect(row.probes).toEqual([{ tokens: row.plannedTokens, fits: true }]);
      expect(row.measured!.weightBytes).toBe(plan.weightBytes);
      expect(row.measured!.kvBytesAllocated).toBe(
        row.verifiedTokens! * plan.kvBytesPerToken + plan.streamingKvBytes,
      );
      expect(row.largestContext).toBe(row.verifiedTokens! - 3);
      const decode = row.decode!;
      expect(decode.map((d) => [d.context, d.fits, d.largest ?? false])).toEqual([
        [256, true, false],
        [row.largestContext, true, true],
        [100_000_000, false, false],
      ]);
      expect(decode[1]!.kvBytesUsed).toBe(row.largestContext! * plan.kvBytesPerToken + plan.streamingKvBytes);
      expect(decode[0]!.msPerToken).toBeGreaterThan(0);
      expect(decode[0]!.floorMs).toBeUndefined();
    }
    // int4 holds 4x the tokens of fp32 here (8 vs 32 bytes per token and head), minus the weights' share.
    expect(rows[2]!.verifiedTokens!).toBeGreaterThan(3 * rows[0]!.verifiedTokens!);
  });

  it('steps down when the planner overestimates: W8A8 on the reference backend keeps embeddings, norms and scales in fp32', async () => {
    const rows = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['w8a8'], ['fp32'], ['full']),
      policyFor,
      load,
      memoryBytes: 2 * MIB,
      headroomBytes: 64 * 1024,
      resolution: 1,
      steps: 1,
      warmup: 0,
    });
    const [row] = rows;
    const plan = row!.plan!;
    expect(row!.status).toBe('measured');
    // The planner's W8A8 layout is int8 linears + fp16 rest; the executor keeps the rest (and the scales) in fp32.
    expect(plan.weightDtype).toBe('int8');
    expect(row!.measured!.weightBytes).toBeGreaterThan(plan.weightBytes);
    expect(row!.verifiedTokens!).toBeLessThan(row!.plannedTokens!);
    expect(row!.probes![0]).toMatchObject({ tokens: row!.plannedTokens, fits: false });
    expect(row!.probes![0]!.reason).toMatch(/exceed the \d+ B left after the headroom/);
    // At resolution 1 the search lands exactly on what the measured weights leave room for, in 3
    // probes: the plan, the count its overshoot suggests, and one token more.
    const exact = Math.floor(
      (plan.usableBytes - row!.measured!.weightBytes - plan.streamingKvBytes) / plan.kvBytesPerToken,
    );
    expect(row!.verifiedTokens).toBe(exact);
    expect(row!.probes!.map((p) => [p.tokens, p.fits])).toEqual([
      [row!.plannedTokens, false],
      [exact, true],
      [exact + 1, false],
    ]);
  });

  it('steps down on allocation failures too, and reports a budget the weights alone exceed', async () => {
    // A loader that refuses (as an allocator would, with V8's error) above 1000 tokens: out-of-memory
    // cannot be arranged on a CI machine, so the refusal is simulated here; everything else is real.
    const rows = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['float'], ['fp32'], ['full']),
      policyFor,
      load: async (weights, policy, maxTokens) => {
        if (maxTokens > 1000) throw new RangeError('Array buffer allocation failed');
        return load(weights, policy, maxTokens);
      },
      memoryBytes: 2 * MIB,
      headroomBytes: 0,
      resolution: 1,
      steps: 1,
      warmup: 0,
    });
    expect(rows[0]!.verifiedTokens).toBe(1000);
    expect(rows[0]!.probes![0]!.reason).toMatch(/^load: Array buffer allocation failed/);

    const tiny = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['float'], ['fp32'], ['full']),
      policyFor,
      load,
      memoryBytes: 4096,
      headroomBytes: 0,
      at: [16],
    });
    expect(tiny[0]).toMatchObject({ status: 'none-fits', plannedTokens: 0, verifiedTokens: 0 });
    expect(tiny[0]!.decode).toEqual([{ context: 16, fits: false }]);
  });

  it('lists what the backend cannot run with its reason, and times an unbounded policy at the given contexts', async () => {
    const rows = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['float'], ['bf16', 'fp32'], ['streaming']),
      policyFor,
      load,
      memoryBytes: 2 * MIB,
      headroomBytes: 0,
      at: [64],
      steps: 1,
      warmup: 0,
    });
    expect(rows[0]).toEqual({
      weights: 'float',
      kvDtype: 'bf16',
      policy: 'streaming',
      status: 'unsupported',
      reason: 'the reference backend keeps fp32/int4 KV caches, not bf16',
    });
    expect(rows[1]).toMatchObject({ status: 'unbounded', plannedTokens: null });
    expect(rows[1]!.decode!.map((d) => [d.context, d.fits])).toEqual([[64, true]]);

    const cudaLike = {
      name: 'cuda',
      capabilities: { computeDtypes: ['bf16'], kvCacheDtypes: ['bf16' as const], training: true },
    };
    const refused = await benchmarkCapacity({
      backend: cudaLike,
      config: model.config,
      combinations: capacityCombinations(['w8a8', 'float'], ['int4'], ['duo:0.5']),
      policyFor,
      load: () => Promise.reject(new Error('never loaded')),
      memoryBytes: 2 * MIB,
      headroomBytes: 0,
    });
    expect(refused.map((r) => r.status)).toEqual(['unsupported', 'unsupported']);
    expect(refused.map((r) => r.reason)).toEqual([
      'the cuda backend runs float weights, not w8a8; the cuda backend keeps bf16 KV caches, not int4',
      'the cuda backend keeps bf16 KV caches, not int4',
    ]);
  });

  it('keeps a failure of one combination in its row and runs the next', async () => {
    const rows = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['w8a8', 'float'], ['fp32'], ['full']),
      policyFor,
      // A loader that breaks for W8A8 (as a kernel error would): the float row still runs.
      load: (weights, policy, maxTokens) =>
        weights === 'w8a8'
          ? Promise.reject(new TypeError('kernel exploded'))
          : load(weights, policy, maxTokens),
      memoryBytes: MIB,
      headroomBytes: 0,
      steps: 1,
      warmup: 0,
    });
    expect(rows[0]).toMatchObject({
      weights: 'w8a8',
      status: 'failed',
      reason: 'TypeError: kernel exploded',
    });
    expect(rows[1]).toMatchObject({ weights: 'float', status: 'measured' });
  });

  it('puts each figure next to its bandwidth floor when given a bandwidth, and rejects bad options', async () => {
    const [row] = await benchmarkCapacity({
      backend,
      config: model.config,
      combinations: capacityCombinations(['float'], ['fp32'], ['duo:0.5']),
      policyFor,
      load,
      memoryBytes: MIB,
      headroomBytes: 0,
      copyBandwidthBytesPerSecond: 1e9,
      steps: 1,
      warmup: 0,
    });
    const largest = row!.decode!.find((d) => d.largest)!;
    expect(largest.floorMs).toBeCloseTo(((row!.measured!.weightBytes + largest.kvBytesUsed!) / 1e9) * 1e3, 9);
    expect(largest.ratioToFloor).toBeCloseTo(largest.msPerToken! / largest.floorMs!, 9);
    const base = {
      backend,
      config: model.config,
      combinations: capacityCombinations(['float'], ['fp32'], ['full']),
      policyFor,
      load,
      memoryBytes: MIB,
      headroomBytes: 0,
    };
    await expect(benchmarkCapacity({ ...base, steps: 0 })).rejects.toThrow(/steps/);
    await expect(benchmarkCapacity({ ...base, at: [-5] })).rejects.toThrow(/positive integer/);
    await expect(benchmarkCapacity({ ...base, headroomBytes: MIB })).rejects.toThrow(/headroom/);
    expect(() => capacityCombinations(['float', 'float'], ['fp32'], ['full'])).toThrow(/given twice/);
    expect(() => capacityCombinations([], ['fp32'], ['full'])).toThrow(/at least one/);
  });
});
