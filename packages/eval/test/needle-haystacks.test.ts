// NIAH over large fixed haystacks: the original's PaulGrahamEssays (49 files, 732 KB) and a 5 MB
// generated text. Large token arrays must never be spread into call arguments (they overflowed the
// stack), and only the part of the text a grid needs is tokenized.
import {
  createCpuBackend,
  defaultModelDirectory,
  fullPolicy,
  loadModel,
  loadTokenizer,
  type Tokenizer,
} from '@duo-attn/core';
import { sharedDataPath } from '@duo-attn/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  fixedHaystackIds,
  generateHaystack,
  prepareNeedleGrid,
  readHaystackDirectory,
  runNeedleGrid,
  TOY_NEEDLE_TEMPLATES,
} from '../src/index.js';

let tokenizer: Tokenizer;
beforeAll(async () => {
  tokenizer = await loadTokenizer(defaultModelDirectory());
});
const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });

const essays = sharedDataPath('needle/PaulGrahamEssays', 'NIAH over PaulGrahamEssays');

describe('fixedHaystackIds', () => {
  it('equals the whole text tokenized, cut or repeated to the count', () => {
    const text = generateHaystack(40_000, { seed: 4 });
    const whole = encode(text);
    expect(fixedHaystackIds(text, encode, 1000)).toEqual(whole.slice(0, 1000));
    expect(fixedHaystackIds(text, encode, whole.length)).toEqual(whole);
    const repeated = fixedHaystackIds(text, encode, whole.length * 2 + 5);
    expect(repeated).toHaveLength(whole.length * 2 + 5);
    expect(repeated.slice(whole.length, 2 * whole.length)).toEqual(whole);
    expect(repeated.at(-1)).toBe(whole[4]);
  });

  it('prepares 8K-token prompts from a 5 MB haystack', () => {
    const text = generateHaystack(5_000_000, { seed: 1 });
    expect(text.length).toBeGreaterThanOrEqual(5_000_000);
    const grid = prepareNeedleGrid(tokenizer, {
      lengths: [1024, 8192],
      depths: [0, 50, 100],
      trials: 1,
      templates: TOY_NEEDLE_TEMPLATES,
      haystack: { kind: 'text', text },
    });
    expect(grid.trials).toHaveLength(6);
    for (const trial of grid.trials) expect(trial.ids).toHaveLength(trial.length);
    // The haystack part is the text's own first tokens.
    const start = encode(text.slice(0, 2000)).slice(0, 200);
    expect(grid.trials[5]!.ids.slice(1, 201)).toEqual(start);
  });
});

describe.skipIf(essays === undefined)('NIAH over PaulGrahamEssays', () => {
  it('tokenizes the essays as a whole would be and runs a grid on the bundled model', async () => {
    const text = await readHaystackDirectory(essays!);
    const whole = encode(text);
    expect(fixedHaystackIds(text, encode, 8192)).toEqual(whole.slice(0, 8192));
    const grid = prepareNeedleGrid(tokenizer, {
      lengths: [1024, 8192],
      depths: [0, 100],
      trials: 1,
      templates: TOY_NEEDLE_TEMPLATES,
      haystack: { kind: 'text', text },
    });
    for (const trial of grid.trials) expect(trial.ids).toHaveLength(trial.length);
    const directory = defaultModelDirectory();
    const model = await loadModel(directory);
    const short = { mode: grid.mode, trials: grid.trials.filter((trial) => trial.length === 1024) };
    const executor = await createCpuBackend().load(model, fullPolicy(model.config), { maxTokens: 1100 });
    try {
      const { records } = await runNeedleGrid(executor, tokenizer, short, {
        maxNewTokens: 10,
        prefillChunkSize: 256,
      });
      expect(records).toHaveLength(2);
      for (const record of records) expect(record.output.length).toBeGreaterThan(0);
    } finally {
      await executor.dispose();
    }
  });
});
