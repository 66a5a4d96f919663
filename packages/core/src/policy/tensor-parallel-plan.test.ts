// The tensor-parallel memory plan on Llama-3-8B's shape: every head on exactly one GPU, retrieval
// heads balanced over all layers, per-GPU bytes that add up to the single-GPU plan.
import { describe, expect, it } from 'vitest';
import { fullPolicy, policyFromMask } from './create-policy.js';
import { llama3 } from './llama3-config.fixture.js';
import { kvBytesPerToken, planMemory, streamingKvBytes, weightBytes } from './memory-planner.js';
import { planTensorParallel } from './tensor-parallel-plan.js';

/** A skewed pattern: layer l keeps heads 0..(l mod 8) as retrieval heads (uneven across layers). */
const skewed = policyFromMask(
  Array.from({ length: 32 }, (_, l) => Array.from({ length: 8 }, (_, h) => (h <= l % 8 ? 1 : 0))),
  { sinkSize: 64, recentSize: 256 },
);

describe('planTensorParallel', () => {
  it('puts every KV head on exactly one GPU, an equal number per layer', () => {
    for (const n of [1, 2, 4, 8]) {
      const plan = planTensorParallel(llama3, skewed, { worldSize: n, weightDtype: 'bf16' });
      expect(plan.ranks).toHaveLength(n);
      for (let l = 0; l < 32; l++) {
        const all = plan.ranks.flatMap((rank) => rank.kvHeads[l]!);
        expect(all.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        for (const rank of plan.ranks) expect(rank.kvHeads[l]).toHaveLength(8 / n);
      }
    }
  });

  it('balances retrieval heads over all layers to within one, and the bytes add up', () => {
    const single = planMemory(llama3, skewed, { weightDtype: 'bf16' }).policy;
    for (const n of [2, 4, 8]) {
      const plan = planTensorParallel(llama3, skewed, { worldSize: n, weightDtype: 'bf16' });
      const totals = plan.ranks.map((rank) => rank.retrievalKvHeads);
      expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(1);
      expect(totals.reduce((a, b) => a + b, 0)).toBe(single.retrievalKvHeads);
      expect(plan.ranks.reduce((sum, rank) => sum + rank.kvBytesPerToken, 0)).toBe(
        kvBytesPerToken(llama3, skewed),
      );
      expect(plan.ranks.reduce((sum, rank) => sum + rank.streamingKvBytes, 0)).toBe(
        streamingKvBytes(llama3, skewed),
      );
    }
  });

  it('splits the linear layers and replicates embeddings, LM head and norms', () => {
    const one = planTensorParallel(llama3, fullPolicy(llama3), { worldSize: 1, weightDtype: 'bf16' });
    expect(one.ranks[0]!.weightBytes).toBe(weightBytes(llama3, 'bf16'));
    const two = planTensorParallel(llama3, fullPolicy(llama3), { worldSize: 2, weightDtype: 'bf16' });
    // 2 x 128256 x 4096 embedding + LM head and 65 norms of 4096 stay whole; 6.98e9 linear parameters halve.
    const replicated = 2 * (2 * 128256 * 4096 + 65 * 4096);
    expect(two.ranks[0]!.weightBytes).toBe(replicated + (weightBytes(llama3, 'bf16') - replicated) / 2);
    expect(two.allReduceBytesPerTokenPerLayer).toBe(2 * 4096 * 2);
  });

  it('gives each GPU and the group a capacity for a budget', () => {
    const budget = 80e9;
    const plan = planTensorParallel(llama3, skewed, {
      worldSize: 2,
      weightDtype: 'bf16',
      memoryBytesPerGpu: budget,
    });
    for (const rank of plan.ranks) {
      expect(rank.capacityTokens).toBe(
        Math.floor((budget - rank.weightBytes - rank.streamingKvBytes) / rank.kvBytesPerToken),
      );
    }
    expect(plan.capacityTokens).toBe(Math.min(...plan.ranks.map((rank) => rank.capacityTokens as number)));
    // Two GPUs hold more than twice one GPU's tokens: the weights are split too.
    const single = planMemory(llama3, skewed, { weightDtype: 'bf16', memoryBytes: budget }).policy
      .capacityTokens!;
    expect(plan.capacityTokens!).toBeGreaterThan(2 * single);
  });

  it('refuses sizes the heads or the MLP do not divide by', () => {
    expect(() => planTensorParallel(llama3, skewed, { worldSize: 3, weightDtype: 'bf16' })).toThrow(
      /num_key_value_heads \(8\) does not divide by the tensor-parallel size 3/,
    );
    expect(() => planTensorParallel(llama3, skewed, { worldSize: 0, weightDtype: 'bf16' })).toThrow(
      /worldSize/,
    );
  });
});
