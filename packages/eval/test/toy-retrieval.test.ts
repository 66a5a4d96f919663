// The bundled toy model really retrieves (reduced grid for CI; the full grid's results are in
// models/toy-retrieval/README.md): full attention finds needles at any depth up to 8K tokens,
// streaming-only attention (sink 16, recent 64) loses those deeper than its window.
import {
  createCpuBackend,
  defaultModelDirectory,
  fullPolicy,
  type KvCachePolicy,
  loadModel,
  loadTokenizer,
  streamingPolicy,
} from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { prepareNeedleGrid, runNeedleGrid, TOY_NEEDLE_TEMPLATES } from '../src/index.js';

async function grid(
  makePolicy: (config: { numLayers: number; numKvHeads: number }) => KvCachePolicy,
  lengths: number[],
  depths: number[],
  seed: number,
) {
  const dir = defaultModelDirectory();
  const model = await loadModel(dir);
  const tokenizer = await loadTokenizer(dir);
  const executor = await createCpuBackend().load(model, makePolicy(model.config), {
    maxTokens: Math.max(...lengths) + 16,
  });
  try {
    const grid = prepareNeedleGrid(tokenizer, {
      lengths,
      depths,
      trials: 1,
      templates: TOY_NEEDLE_TEMPLATES,
      seed,
    });
    // Answers to 8K prompts run past the toy's 8192-position context, as in the original's grid.
    return await runNeedleGrid(executor, tokenizer, grid, {
      maxNewTokens: 12,
      prefillChunkSize: 256,
      contextLength: Math.max(...lengths) + 12,
    });
  } finally {
    await executor.dispose();
  }
}

describe('bundled toy model (cpu backend, chunked prefill of 256)', () => {
  it('full attention retrieves the value at every depth', async () => {
    const { cells, records } = await grid(
      (config) => fullPolicy(config),
      [1024, 2048, 4096],
      [0, 50, 100],
      21,
    );
    expect(
      records.map((r) => r.output.trim()),
      'greedy answers',
    ).toEqual(records.map((r) => `${r.expected}.`));
    expect(cells.every((cell) => cell.score === 1)).toBe(true);
    // One cell at the trained length (an 8K full-attention prefill is the costliest step here).
    const longest = await grid((config) => fullPolicy(config), [8192], [50], 23);
    expect(longest.records.map((r) => r.output.trim())).toEqual(longest.records.map((r) => `${r.expected}.`));
  });

  it('streaming-only attention loses needles deeper than its window', async () => {
    const { records } = await grid(
      (config) => streamingPolicy(config, { sinkSize: 16, recentSize: 64 }),
      [1024, 2048],
      [25, 75],
      22,
    );
    expect(records.filter((r) => r.score > 0)).toHaveLength(0);
  });
});
