import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EvalOptionError } from '../errors.js';
import { generateHaystack, haystackParagraphs, PARAGRAPH_SEPARATOR } from './haystack-generator.js';

const ONE_MB = 1_000_000;
const big = generateHaystack(ONE_MB, { seed: 11 });
const paragraphs = big.split(PARAGRAPH_SEPARATOR);
const sentences = paragraphs.flatMap((paragraph) => paragraph.split(/(?<=[.!?]) /));

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

describe('generateHaystack determinism', () => {
  it('gives byte-identical text for the same seed', () => {
    expect(generateHaystack(200_000, { seed: 5 })).toBe(generateHaystack(200_000, { seed: 5 }));
    expect(generateHaystack(10_000)).toBe(generateHaystack(10_000, { seed: 0 }));
  });

  it('matches the pinned digest (integer-only PRNG, so identical on every platform)', () => {
    // A deliberate grammar or vocabulary change changes these; update them then, and regenerate corpora.
    const text = generateHaystack(20_000, { seed: 1 });
    expect(text.length).toBe(PINNED.length);
    expect(sha256(text)).toBe(PINNED.sha256);
  });

  it('gives different text for different seeds', () => {
    const seeds = [0, 1, 2, 3, 42, -7, 2 ** 32, 2 ** 40];
    const openings = seeds.map((seed) => generateHaystack(2000, { seed }));
    expect(new Set(openings).size).toBe(seeds.length);
    const firstParagraphs = seeds.map((seed) => haystackParagraphs({ seed }).next().value);
    expect(new Set(firstParagraphs).size).toBe(seeds.length);
  });

  it('is a prefix of the paragraph stream of the same seed', () => {
    const text = generateHaystack(30_000, { seed: 9 });
    const count = text.split(PARAGRAPH_SEPARATOR).length;
    const stream = haystackParagraphs({ seed: 9 });
    const streamed: string[] = [];
    for (let i = 0; i < count; i++) streamed.push(stream.next().value as string);
    expect(streamed.join(PARAGRAPH_SEPARATOR)).toBe(text);
  });
});

describe('generateHaystack length', () => {
  it('returns whole paragraphs reaching minChars, and no more paragraphs than needed', () => {
    for (const minChars of [1, 80, 1000, 12_345, 100_000]) {
      const text = generateHaystack(minChars, { seed: 3 });
      expect(text.length).toBeGreaterThanOrEqual(minChars);
      const parts = text.split(PARAGRAPH_SEPARATOR);
      expect(parts.slice(0, -1).join(PARAGRAPH_SEPARATOR).length).toBeLessThan(minChars);
      expect(text).toMatch(/[.!?]$/);
      expect(text).toMatch(/^[A-Z]/);
    }
  });

  it('returns the empty string for minChars 0', () => {
    expect(generateHaystack(0)).toBe('');
  });

  it('rejects bad lengths and seeds with a typed error', () => {
    for (const minChars of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => generateHaystack(minChars)).toThrow(EvalOptionError);
    }
    for (const seed of [0.5, Number.NaN, 2 ** 60]) {
      expect(() => generateHaystack(10, { seed })).toThrow(/seed must be a safe integer/);
      expect(() => haystackParagraphs({ seed }).next()).toThrow(EvalOptionError);
    }
    let thrown: unknown;
    try {
      generateHaystack(-1);
    } catch (error) {
      thrown = error;
    }
    expect((thrown as EvalOptionError | undefined)?.code).toBe('E_EVAL_OPTION');
  });
});

describe('generateHaystack text', () => {
  it('contains no digit anywhere', () => {
    expect(big).not.toMatch(/[0-9]/);
  });

  it('is printable ASCII with newlines only between paragraphs', () => {
    expect(big).toMatch(/^[\x20-\x7e\n]*$/);
    for (const paragraph of paragraphs) {
      expect(paragraph.length).toBeGreaterThan(0);
      expect(paragraph).not.toContain('\n');
      expect(paragraph).not.toMatch(/^ | $| {2}/);
    }
    expect(big).not.toContain('\n\n\n');
  });

  it('writes paragraphs of three to eight sentences, each capitalised and terminated', () => {
    for (const paragraph of paragraphs) {
      const count = paragraph.split(/(?<=[.!?]) /).length;
      expect(count).toBeGreaterThanOrEqual(3);
      expect(count).toBeLessThanOrEqual(8);
    }
    const malformed = sentences.filter((sentence) => !/^[A-Z][^.!?]*[.!?]$/.test(sentence));
    expect(malformed.slice(0, 5)).toEqual([]);
  });

  it('balances its quotation marks within each sentence', () => {
    for (const sentence of sentences) expect((sentence.match(/"/g) ?? []).length % 2).toBe(0);
    expect(sentences.some((sentence) => sentence.includes('"'))).toBe(true);
  });

  it('varies its sentences: the most frequent one stays under one percent', () => {
    const counts = new Map<string, number>();
    for (const sentence of sentences) counts.set(sentence, (counts.get(sentence) ?? 0) + 1);
    const most = Math.max(...counts.values());
    expect(sentences.length).toBeGreaterThan(5000);
    expect(most / sentences.length).toBeLessThan(0.01);
    expect(counts.size / sentences.length).toBeGreaterThan(0.9);
  });

  it('mixes statements, questions, exclamations, quotations and numbers in words', () => {
    const endings = { '.': 0, '?': 0, '!': 0 };
    for (const sentence of sentences) endings[sentence.slice(-1) as keyof typeof endings] += 1;
    expect(endings['?']).toBeGreaterThan(sentences.length * 0.01);
    expect(endings['!']).toBeGreaterThan(sentences.length * 0.002);
    expect(big).toMatch(
      /\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-(one|two|three|four|five|six|seven|eight|nine)\b/,
    );
    const words = new Set(big.toLowerCase().match(/[a-z]+/g));
    expect(words.size).toBeGreaterThan(900);
  });

  // Speed is a benchmark, never a timed test (docs/benchmarks.md); here only the size is checked.
  it('generates ten megabytes of whole paragraphs', () => {
    const text = generateHaystack(10_000_000, { seed: 2 });
    expect(text.length).toBeGreaterThanOrEqual(10_000_000);
    expect(text.endsWith('.') || text.endsWith('!') || text.endsWith('?') || text.endsWith('"')).toBe(true);
  });
});

const PINNED = { length: 20_516, sha256: '0434f21195e31b3a8cbd1dfb84c40713dbbdbe1bad1bcc7e086faa35b37018e9' };
