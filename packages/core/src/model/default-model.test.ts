import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DefaultModelNotFoundError, defaultModelDirectory } from './default-model.js';
import { loadModel } from './load-model.js';

describe('defaultModelDirectory', () => {
  afterEach(() => {
    delete process.env.DUO_DEFAULT_MODEL;
  });

  it('finds the bundled toy model, which loads like any HF model', async () => {
    const dir = defaultModelDirectory();
    expect(dir).toMatch(/models[\\/]toy-retrieval$/);
    const model = await loadModel(dir);
    expect(model.config).toMatchObject({
      architecture: 'LlamaForCausalLM',
      numLayers: 6,
      numKvHeads: 4,
      vocabSize: 2048,
    });
  });

  it('honours DUO_DEFAULT_MODEL and names what it looked for', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'duo-default-'));
    process.env.DUO_DEFAULT_MODEL = empty;
    try {
      expect(() => defaultModelDirectory()).toThrow(DefaultModelNotFoundError);
      expect(() => defaultModelDirectory()).toThrow(/DUO_DEFAULT_MODEL/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
