// Memory planner arithmetic checked against hand-computed Llama-3-8B numbers.
import { describe, expect, it } from 'vitest';
import { fullPolicy, policyFromMask, streamingPolicy } from './create-policy.js';
import { llama3 } from './llama3-config.fixture.js';
import {
  capacityTokens,
  countParameters,
  kvBytesPerToken,
  kvBytesPerTokenHead,
  planMemory,
  streamingKvBytes,
  weightBytes,
} from './memory-planner.js';

/** Half the KV heads of every layer retrieval. */
const halfMask = Array.from({ length: 32 }, () => [1, 0, 1, 0, 1, 0, 1, 0]);

describe('memory planner', () => {
  it('prices one token-head per cache dtype', () => {
    expect(kvBytesPerTokenHead('fp32', 128)).toBe(512);
    expect(kvBytesPerTokenHead('bf16', 128)).toBe(256);
    expect(kvBytesPerTokenHead('fp16', 128)).toBe(256);
    expect(kvBytesPerTokenHead('int4', 128)).toBe(68);
    expect(() => kvBytesPerTokenHead('int4', 7)).toThrow(/even headDim/);
  });

  it('matches the reference numbers for Llama-3-8B in bf16', () => {
    const full = fullPolicy(llama3, { cacheDtype: 'bf16' });
    expect(kvBytesPerToken(llama3, full)).toBe(131072);
    expect(streamingKvBytes(llama3, full)).toBe(0);
    const duo = policyFromMask(halfMask, { sinkSize: 128, recentSize: 256, cacheDtype: 'bf16' });
    expect(kvBytesPerToken(llama3, duo)).toBe(65536);
    // 128 streaming heads · 2 (K,V) · 384 tokens · 128 dims · 2 bytes
    expect(streamingKvBytes(llama3, duo)).toBe(128 * 2 * 384 * 128 * 2);
    // int4: 128 retrieval heads · 136 B (spec §5.3: 17,408 B per token)
    expect(kvBytesPerToken(llama3, { ...duo, cacheDtype: 'int4' })).toBe(17408);
  });

  it('counts parameters of Llama-3-8B', () => {
    const counts = countParameters(llama3);
    // 8,030,261,248 is the published parameter count of Meta-Llama-3-8B.
    expect(counts.total).toBe(8030261248);
    expect(weightBytes(llama3, 'bf16')).toBe(2 * 8030261248);
    expect(weightBytes(llama3, 'fp32')).toBe(4 * 8030261248);
    expect(countParameters({ ...llama3, tieWordEmbeddings: true }).total).toBe(8030261248 - 128256 * 4096);
    const withBiases = countParameters({ ...llama3, attentionBias: true, mlpBias: true });
    expect(withBiases.total - counts.total).toBe(32 * (4096 + 2 * 1024 + 2 * 14336 + 4096));
  });

  it('computes capacity after weights and constant bytes', () => {
    expect(capacityTokens(1000, { weightBytes: 300, constantBytes: 100, bytesPerToken: 7 })).toBe(85);
    expect(capacityTokens(100, { weightBytes: 300, constantBytes: 0, bytesPerToken: 7 })).toBe(0);
    expect(capacityTokens(1000, { weightBytes: 0, constantBytes: 0, bytesPerToken: 0 })).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(() => capacityTokens(-1, { weightBytes: 0, constantBytes: 0, bytesPerToken: 1 })).toThrow(
      /memoryBytes/,
    );
  });

  it('plans memory as plain JSON data', () => {
    const duo = policyFromMask(halfMask, { sinkSize: 128, recentSize: 256, cacheDtype: 'bf16' });
    const memoryBytes = 80e9;
    const plan = planMemory(llama3, duo, { memoryBytes });
    const weights = 2 * 8030261248;
    const streaming = 128 * 2 * 384 * 128 * 2;
    expect(plan).toEqual({
      weightDtype: 'bf16',
      cacheDtype: 'bf16',
      sinkSize: 128,
      recentSize: 256,
      parameterCount: 8030261248,
      weightBytes: weights,
      memoryBytes,
      policy: {
        kind: 'duo',
        retrievalKvHeads: 128,
        streamingKvHeads: 128,
        kvBytesPerToken: 65536,
        streamingKvBytes: streaming,
        capacityTokens: Math.floor((memoryBytes - weights - streaming) / 65536),
      },
      full: {
        kind: 'full',
        retrievalKvHeads: 256,
        streamingKvHeads: 0,
        kvBytesPerToken: 131072,
        streamingKvBytes: 0,
        capacityTokens: Math.floor((memoryBytes - weights) / 131072),
      },
      kvBytesPerTokenRatio: 0.5,
    });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    const streamingOnly = planMemory(llama3, streamingPolicy(llama3, { sinkSize: 4, recentSize: 4 }), {
      memoryBytes,
    });
    expect(streamingOnly.policy.capacityTokens).toBeNull();
    expect(planMemory(llama3, duo).policy.capacityTokens).toBeUndefined();
  });

  it('needs a weight dtype from options or config', () => {
    const config = { ...llama3, torchDtype: undefined };
    expect(() => planMemory(config, fullPolicy(config))).toThrow(/weight dtype unknown/);
    expect(planMemory(config, fullPolicy(config), { weightDtype: 'int8' }).weightBytes).toBe(
      weightBytes(config, 'int8'),
    );
  });

  it('prices int8 weights as int8 matrices with fp16 scales and fp16 embeddings', () => {
    const counts = countParameters(llama3);
    expect(weightBytes(llama3, 'int8')).toBe(
      counts.linear + 2 * counts.linearOutputChannels + 2 * (2 * 128256 * 4096 + counts.norms),
    );
  });
});
