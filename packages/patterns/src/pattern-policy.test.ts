import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PatternOptionError } from './errors.js';
import { createPattern } from './pattern.js';
import { writePattern } from './pattern-directory.js';
import { policyFromPattern, readPatternPolicy } from './pattern-policy.js';

const MODEL = { numLayers: 2, numKvHeads: 2, maxPositionEmbeddings: 100 };
const PATTERN = createPattern({
  alpha: [
    [0.9, 0.1],
    [0.2, 0.8],
  ],
  sinkSize: 4,
  recentSize: 8,
});

describe('policyFromPattern', () => {
  it('keeps the highest gates at the default sparsity 0.5 and the pattern window', () => {
    const result = policyFromPattern(PATTERN, MODEL);
    expect(result.policy.layers).toEqual([
      { retrievalKvHeads: [0], streamingKvHeads: [1] },
      { retrievalKvHeads: [1], streamingKvHeads: [0] },
    ]);
    expect(result).toMatchObject({ retrievalHeads: 2, totalHeads: 4, sinkSize: 4, recentSize: 8 });
    expect(result.policy).toMatchObject({ sinkSize: 4, recentSize: 8 });
    expect(result.description).toBe(
      'DuoAttention: 2 of 4 KV heads retrieval (sparsity 0.5), sink 4, recent 8',
    );
  });

  it('binarises by threshold and takes a given window', () => {
    const result = policyFromPattern(PATTERN, MODEL, { threshold: 0.85, sinkSize: 1, recentSize: 2 });
    expect(result.retrievalHeads).toBe(1);
    expect(result.policy).toMatchObject({ sinkSize: 1, recentSize: 2 });
    expect(policyFromPattern(PATTERN, MODEL, { sparsity: 0 }).retrievalHeads).toBe(4);
    expect(policyFromPattern(PATTERN, MODEL, { sparsity: 1 }).retrievalHeads).toBe(0);
  });

  it('refuses bad options and a pattern or window that does not fit the model, naming what is wrong', () => {
    const bad: [object, RegExp][] = [
      [{ sparsity: 0.5, threshold: 0.5 }, /not both/],
      [{ threshold: 0.5, seed: 1 }, /seed only applies/],
      [{ sparsity: 1.5 }, /sparsity must be a number in \[0, 1\]/],
      [{ threshold: Number.NaN }, /threshold must be/],
      [{ sinkSize: -1 }, /sinkSize must be an integer/],
      [{ sinkSize: 60, recentSize: 60 }, /sink 60 \+ recent 60 = 120 exceeds the model's context of 100/],
    ];
    for (const [options, message] of bad) {
      expect(() => policyFromPattern(PATTERN, MODEL, options)).toThrow(message);
      expect(() => policyFromPattern(PATTERN, MODEL, options)).toThrow(PatternOptionError);
    }
    expect(() => policyFromPattern(PATTERN, { ...MODEL, maxPositionEmbeddings: 10 })).toThrow(
      /the pattern's config.json gives sink 4 \+ recent 8/,
    );
    expect(() => policyFromPattern(PATTERN, { ...MODEL, numKvHeads: 3 })).toThrow(/the model has 2 x 3/);
  });
});

describe('readPatternPolicy', () => {
  it('reads a pattern directory and checks its shape against the model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'duo-pattern-policy-'));
    try {
      await writePattern(dir, PATTERN);
      expect((await readPatternPolicy(dir, MODEL, { sparsity: 0.75 })).retrievalHeads).toBe(1);
      await expect(readPatternPolicy(dir, { ...MODEL, numLayers: 3 })).rejects.toThrow(/layers/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
