import { describe, expect, it } from 'vitest';
import { buildNeedlePrompt, NeedlePromptError } from './needle-prompt.js';
import { fillTemplate, TOY_NEEDLE_TEMPLATES } from './needle-templates.js';

// Haystack ids 100..199; ids divisible by 10 end a sentence.
const haystackIds = Array.from({ length: 100 }, (_, i) => 100 + i);
const sentenceEndIds = new Set(haystackIds.filter((id) => id % 10 === 0));
const parts = { haystackIds, needleIds: [1, 2], questionIds: [3, 4, 5], bosId: 0, sentenceEndIds };

describe('buildNeedlePrompt', () => {
  it('builds exactly the requested length: bos, haystack with needle, question', () => {
    const prompt = buildNeedlePrompt(parts, 30, 50);
    expect(prompt.ids).toHaveLength(30);
    expect(prompt.ids[0]).toBe(0);
    expect(prompt.ids.slice(-3)).toEqual([3, 4, 5]);
    expect(prompt.ids.slice(prompt.needleStart, prompt.needleStart + 2)).toEqual([1, 2]);
  });

  it('moves the needle back to just after a sentence end', () => {
    // 24 haystack tokens (100..123); 50% -> index 12, moved back to after 110 (index 11).
    const prompt = buildNeedlePrompt(parts, 30, 50);
    expect(prompt.ids[prompt.needleStart - 1]).toBe(110);
    expect(prompt.actualDepth).toBeCloseTo(11 / 24, 12);
  });

  it('puts the needle first at 0% and right before the question at 100%', () => {
    expect(buildNeedlePrompt(parts, 30, 0).needleStart).toBe(1);
    const end = buildNeedlePrompt(parts, 30, 100);
    expect(end.ids.slice(-5)).toEqual([1, 2, 3, 4, 5]);
    expect(end.actualDepth).toBe(1);
  });

  it('works without a BOS token', () => {
    const { bosId: _, ...noBos } = parts;
    const prompt = buildNeedlePrompt(noBos, 10, 0);
    expect(prompt.ids).toEqual([1, 2, 100, 101, 102, 103, 104, 3, 4, 5]);
  });

  it('rejects impossible requests', () => {
    expect(() => buildNeedlePrompt(parts, 6, 50)).toThrow(NeedlePromptError);
    expect(() => buildNeedlePrompt(parts, 500, 50)).toThrow(/haystack has 100 tokens/);
    expect(() => buildNeedlePrompt(parts, 30, 101)).toThrow(/depth/);
  });
});

describe('templates', () => {
  it('substitutes every {value}', () => {
    expect(fillTemplate('a {value} b {value}', '42')).toBe('a 42 b 42');
    expect(fillTemplate(TOY_NEEDLE_TEMPLATES.needle, '1234567')).toBe(
      ' The secret code of the blue door is 1234567.',
    );
  });
});
