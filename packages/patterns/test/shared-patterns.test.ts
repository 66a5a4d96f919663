// Acceptance on the original's six shipped patterns (read from ../shared at run time, never copied).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PATTERN_CONFIG_FILE,
  PATTERN_GATES_FILE,
  readPattern,
  retrievalCount,
  sparsify,
  writePattern,
} from '../src/index.js';
import { sharedPatternDirs, warnIfNoSharedData } from './shared-data.js';

const dirs = sharedPatternDirs();
warnIfNoSharedData('shipped attention patterns');

// Masks from the reference spec (§1.5): numpy seed(42), sparsity 0.5; one 8-char string per layer.
const SPEC_MASKS: Record<string, string> = {
  'Llama-3-8B-Instruct-Gradient-1048k':
    '00100000 00010000 00000110 00000110 00001100 01101001 00000110 10010110 11101011 00010111 10011011 11000001 10000100 11101011 01001111 10101011 11100110 11010111 01010100 10110101 10111110 10110000 00011001 11010111 10001110 11011100 10010001 01000111 11011110 00101111 11111111 10000100',
  'Llama-3-8B-Instruct-Gradient-4194k':
    '10100000 00010000 00001110 00000000 00001100 01101101 00000110 10010110 10101011 00010011 10100011 01011001 10000000 11101011 01001101 10101011 11100110 11010111 01010100 10110000 10111110 10111000 11011001 11010110 10011110 11011100 11110001 01011111 10011110 00101111 11111111 10000000',
};

describe.skipIf(dirs.length === 0)('shipped patterns', () => {
  const scratch = mkdtemp(join(tmpdir(), 'duo-patterns-'));
  afterAll(async () => rm(await scratch, { recursive: true, force: true }));

  it('finds all six', () => {
    expect(dirs.map((d) => d.model).sort()).toEqual([
      'Llama-2-7B-32K-Instruct',
      'Llama-3-8B-Instruct-Gradient-1048k',
      'Llama-3-8B-Instruct-Gradient-4194k',
      'Meta-Llama-3.1-8B-Instruct',
      'Mistral-7B-Instruct-v0.2',
      'Mistral-7B-Instruct-v0.3',
    ]);
  });

  for (const { model, dir } of dirs) {
    describe(model, () => {
      it('loads with the documented shape, clipped to [0, 1]', async () => {
        const pattern = await readPattern(dir, { numLayers: 32 });
        expect(pattern.numLayers).toBe(32);
        expect(pattern.numKvHeads).toBe(model.startsWith('Llama-2') ? 32 : 8);
        expect(pattern.sinkSize).toBe(128);
        expect(pattern.recentSize).toBe(256);
        for (const row of pattern.alpha) for (const v of row) expect(v >= 0 && v <= 1).toBe(true);
      });

      it('round-trips byte-identical', async () => {
        const pattern = await readPattern(dir);
        const out = join(await scratch, model);
        await writePattern(out, pattern);
        for (const file of [PATTERN_CONFIG_FILE, PATTERN_GATES_FILE]) {
          const written = await readFile(join(out, file));
          const original = await readFile(join(dir, file));
          expect(written.equals(original), `${file} differs`).toBe(true);
        }
      });

      it('sparsifies at 0.25/0.5/0.75 to exactly n - ceil((n-1)s) heads', async () => {
        const pattern = await readPattern(dir);
        const n = pattern.numLayers * pattern.numKvHeads;
        for (const s of [0.25, 0.5, 0.75]) {
          const result = sparsify(pattern.alpha, { sparsity: s });
          expect(result.retrievalHeads).toBe(n - Math.ceil((n - 1) * s));
          expect(result.retrievalHeads).toBe(retrievalCount(n, s));
        }
      });

      it('keeps exactly the top-k gates at 0.25/0.5/0.75, ties broken the same way every run', async () => {
        const pattern = await readPattern(dir);
        const gates = pattern.alpha.flat();
        // An independent sort of the clipped gates, largest first.
        const descending = [...gates].sort((a, b) => b - a);
        for (const s of [0.25, 0.5, 0.75]) {
          for (const seed of [42, 7]) {
            const result = sparsify(pattern.alpha, { sparsity: s, seed });
            const k = retrievalCount(gates.length, s);
            const mask = result.mask.flat();
            const kept = gates.filter((_, i) => mask[i] === 1).sort((a, b) => b - a);
            const dropped = gates.filter((_, i) => mask[i] === 0);
            expect(kept, `${model} s=${s} seed=${seed}`).toEqual(descending.slice(0, k));
            if (k > 0 && dropped.length > 0) {
              expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...dropped));
            }
            expect(sparsify(pattern.alpha, { sparsity: s, seed }).mask).toEqual(result.mask);
          }
        }
      });

      const expected = SPEC_MASKS[model];
      it.runIf(expected !== undefined)(
        'reproduces the original mask after seed(42) at sparsity 0.5',
        async () => {
          const pattern = await readPattern(dir);
          const result = sparsify(pattern.alpha, { sparsity: 0.5, seed: 42 });
          expect(result.mask.map((row) => row.join('')).join(' ')).toBe(expected);
        },
      );
    });
  }

  it('reproduces the spec per-layer counts of Llama-2 at sparsity 0.75', async () => {
    const dir = dirs.find((d) => d.model === 'Llama-2-7B-32K-Instruct')!.dir;
    const result = sparsify((await readPattern(dir)).alpha, { sparsity: 0.75, seed: 42 });
    expect(result.retrievalHeads).toBe(256);
    expect(result.mask.map((row) => row.reduce((a, b) => a + b, 0)).join(',')).toBe(
      '2,10,2,5,3,4,9,8,9,5,8,10,4,6,12,9,12,10,9,6,11,7,14,5,12,8,12,3,6,6,12,17',
    );
  });
});
