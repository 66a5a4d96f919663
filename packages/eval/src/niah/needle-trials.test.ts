import { defaultModelDirectory, loadTokenizer, type Tokenizer } from '@duo-attn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EvalOptionError } from '../errors.js';
import { CLASSIC_NEEDLE_TEMPLATES, needleMode, TOY_NEEDLE_TEMPLATES } from './needle-templates.js';
import { prepareNeedleGrid } from './needle-trials.js';

let tokenizer: Tokenizer;
beforeAll(async () => {
  tokenizer = await loadTokenizer(defaultModelDirectory());
});

const find = (haystack: readonly number[], needle: readonly number[]) => {
  for (let i = 0; i + needle.length <= haystack.length; i++) {
    if (needle.every((id, j) => haystack[i + j] === id)) return i;
  }
  return -1;
};

describe('prepareNeedleGrid', () => {
  it('builds prompts of exactly each length with the value placed near each depth', () => {
    const grid = prepareNeedleGrid(tokenizer, {
      lengths: [300, 700],
      depths: [0, 50, 100],
      trials: 2,
      templates: TOY_NEEDLE_TEMPLATES,
      seed: 3,
    });
    expect(grid.mode).toBe('value');
    expect(grid.trials).toHaveLength(12);
    for (const trial of grid.trials) {
      expect(trial.ids).toHaveLength(trial.length);
      expect(trial.expected).toMatch(/^[1-9]\d{6}$/);
      const needle = tokenizer.encode(` The secret code of the blue door is ${trial.expected}.`, {
        addSpecialTokens: false,
      });
      const at = find(trial.ids, needle);
      expect(at, `needle in trial ${trial.length}/${trial.depth}`).toBeGreaterThan(0);
      // The needle sits at or a sentence before the requested depth of the haystack.
      expect(trial.actualDepth).toBeLessThanOrEqual(trial.depth / 100 + 1e-9);
      expect(trial.actualDepth).toBeGreaterThan(trial.depth / 100 - 0.15);
      const tail = tokenizer.decode(trial.ids.slice(-20));
      expect(tail.endsWith('Answer: The secret code of the blue door is')).toBe(true);
    }
    expect(new Set(grid.trials.map((t) => t.expected)).size).toBe(12);
  });

  it('is deterministic per seed', () => {
    const options = { lengths: [400], depths: [25], trials: 2, templates: TOY_NEEDLE_TEMPLATES };
    const a = prepareNeedleGrid(tokenizer, { ...options, seed: 5 });
    expect(prepareNeedleGrid(tokenizer, { ...options, seed: 5 })).toEqual(a);
    expect(prepareNeedleGrid(tokenizer, { ...options, seed: 6 }).trials[0]!.expected).not.toBe(
      a.trials[0]!.expected,
    );
  });

  it('uses a fixed text haystack, repeated as needed, and classic needles', () => {
    const grid = prepareNeedleGrid(tokenizer, {
      lengths: [600],
      depths: [50],
      trials: 1,
      templates: CLASSIC_NEEDLE_TEMPLATES,
      haystack: { kind: 'text', text: 'A short essay. It repeats.' },
    });
    expect(grid.mode).toBe('classic');
    expect(grid.trials[0]!.ids).toHaveLength(600);
    expect(grid.trials[0]!.expected).toContain('Dolores Park');
  });

  it('rejects bad grids and templates before any work', () => {
    const base = { lengths: [300], depths: [0], trials: 1, templates: TOY_NEEDLE_TEMPLATES };
    expect(() => prepareNeedleGrid(tokenizer, { ...base, lengths: [20] })).toThrow(
      /cannot build a 20-token prompt/,
    );
    expect(() => prepareNeedleGrid(tokenizer, { ...base, depths: [] })).toThrow(EvalOptionError);
    expect(() => prepareNeedleGrid(tokenizer, { ...base, trials: 0 })).toThrow(/trials/);
    expect(() => prepareNeedleGrid(tokenizer, { ...base, haystack: { kind: 'text', text: '' } })).toThrow(
      /empty/,
    );
    expect(() => needleMode({ needle: 'fixed', question: 'what is {value}?', answerPrefix: '' })).toThrow(
      /no place for it/,
    );
    expect(() => needleMode({ needle: ' ', question: 'q', answerPrefix: '' })).toThrow(
      /needle template is empty/,
    );
  });
});
