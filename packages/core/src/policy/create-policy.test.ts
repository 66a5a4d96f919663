// Policy constructors and validation: shapes, kinds, sink/recent rules, model agreement.
import { describe, expect, it } from 'vitest';
import {
  fullPolicy,
  numRetrievalKvHeads,
  numStreamingKvHeads,
  policyFromMask,
  policyToMask,
  streamingPolicy,
  validatePolicy,
  validatePolicyForModel,
} from './create-policy.js';
import type { KvCachePolicy } from './kv-cache-policy.js';

function policyError(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('policy constructors', () => {
  it('builds full and streaming policies', () => {
    const full = fullPolicy({ numLayers: 2, numKvHeads: 3 });
    expect(full.kind).toBe('full');
    expect(full.layers).toEqual([
      { retrievalKvHeads: [0, 1, 2], streamingKvHeads: [] },
      { retrievalKvHeads: [0, 1, 2], streamingKvHeads: [] },
    ]);
    expect(full.cacheDtype).toBe('fp32');
    const streaming = streamingPolicy(
      { numLayers: 1, numKvHeads: 2 },
      { sinkSize: 4, recentSize: 8, cacheDtype: 'bf16' },
    );
    expect(streaming).toEqual({
      kind: 'streaming',
      numLayers: 1,
      numKvHeads: 2,
      layers: [{ retrievalKvHeads: [], streamingKvHeads: [0, 1] }],
      sinkSize: 4,
      recentSize: 8,
      cacheDtype: 'bf16',
    });
  });

  it('builds a duo policy from a float mask with the > 0.5 rule', () => {
    const policy = policyFromMask(
      [
        [1, 0, 0.51],
        [0.5, 0.2, 1],
      ],
      { sinkSize: 2, recentSize: 3 },
    );
    expect(policy.kind).toBe('duo');
    expect(policy.layers).toEqual([
      { retrievalKvHeads: [0, 2], streamingKvHeads: [1] },
      { retrievalKvHeads: [2], streamingKvHeads: [0, 1] },
    ]);
    expect(numRetrievalKvHeads(policy, 1)).toBe(1);
    expect(numStreamingKvHeads(policy, 1)).toBe(2);
    expect(policyToMask(policy)).toEqual([
      [1, 0, 1],
      [0, 0, 1],
    ]);
  });

  it('names the kind from the mask content', () => {
    expect(policyFromMask([[1, 1]], { sinkSize: 0, recentSize: 0 }).kind).toBe('full');
    expect(policyFromMask([[0, 0.5]], { sinkSize: 1, recentSize: 0 }).kind).toBe('streaming');
  });
});

describe('policy validation', () => {
  const options = { sinkSize: 1, recentSize: 1 };
  it.each([
    ['an empty mask', () => policyFromMask([], options), /at least one layer/],
    ['ragged rows', () => policyFromMask([[1, 0], [1]], options), /layer 1 has 1 KV heads; layer 0 has 2/],
    ['NaN values', () => policyFromMask([[1, Number.NaN]], options), /layer 0, KV head 1/],
    ['negative sink', () => policyFromMask([[1, 0]], { sinkSize: -1, recentSize: 4 }), /sinkSize.*-1/],
    [
      'fractional recent',
      () => policyFromMask([[1, 0]], { sinkSize: 1, recentSize: 2.5 }),
      /recentSize.*2.5/,
    ],
    [
      'streaming heads with S + R = 0',
      () => policyFromMask([[1, 0]], { sinkSize: 0, recentSize: 0 }),
      /sinkSize \+ recentSize is 0/,
    ],
    ['zero layers', () => fullPolicy({ numLayers: 0, numKvHeads: 2 }), /numLayers/],
    ['fractional KV heads', () => streamingPolicy({ numLayers: 1, numKvHeads: 1.5 }, options), /numKvHeads/],
  ])('rejects %s with E_POLICY', (_name, run, message) => {
    const error = policyError(run);
    expect(error.code).toBe('E_POLICY');
    expect(error.message).toMatch(message);
  });

  it('checks hand-written policies for partitions and kind', () => {
    const base = fullPolicy({ numLayers: 1, numKvHeads: 2 });
    const withLayer = (
      layer: KvCachePolicy['layers'][number],
      kind: KvCachePolicy['kind'] = 'duo',
    ): KvCachePolicy => ({
      ...base,
      kind,
      sinkSize: 1,
      layers: [layer],
    });
    expect(
      policyError(() => validatePolicy(withLayer({ retrievalKvHeads: [0], streamingKvHeads: [] }))).message,
    ).toMatch(/does not classify KV head 1/);
    expect(
      policyError(() => validatePolicy(withLayer({ retrievalKvHeads: [0, 1], streamingKvHeads: [1] })))
        .message,
    ).toMatch(/both retrieval and streaming/);
    expect(
      policyError(() => validatePolicy(withLayer({ retrievalKvHeads: [1, 0], streamingKvHeads: [] })))
        .message,
    ).toMatch(/ascending/);
    expect(
      policyError(() => validatePolicy(withLayer({ retrievalKvHeads: [0, 2], streamingKvHeads: [1] })))
        .message,
    ).toMatch(/contains 2/);
    expect(
      policyError(() => validatePolicy(withLayer({ retrievalKvHeads: [0], streamingKvHeads: [1] }, 'full')))
        .message,
    ).toMatch(/kind is full/);
    expect(policyError(() => validatePolicy({ ...base, cacheDtype: 'int8' as never })).message).toMatch(
      /cacheDtype/,
    );
    expect(policyError(() => validatePolicy({ ...base, layers: [] })).message).toMatch(/0 layer splits/);
  });

  it('checks the policy against the model shape', () => {
    const policy = fullPolicy({ numLayers: 2, numKvHeads: 4 });
    expect(() => validatePolicyForModel(policy, { numLayers: 2, numKvHeads: 4 })).not.toThrow();
    expect(
      policyError(() => validatePolicyForModel(policy, { numLayers: 3, numKvHeads: 4 })).message,
    ).toMatch(/2 layers but the model has 3/);
    expect(
      policyError(() => validatePolicyForModel(policy, { numLayers: 2, numKvHeads: 8 })).message,
    ).toMatch(/4 KV heads per layer but the model has 8/);
  });
});
