import { describe, expect, it } from 'vitest';
import { metricScore } from '../longbench-scoring.js';
import { rougeL } from './rouge-l.js';

/** The package's F for precision p and recall r. */
const f = (p: number, r: number) => 2.0 * ((p * r) / (p + r + 1e-8));

describe('rougeL (the rouge package, as LongBench calls it)', () => {
  it('is LCS-based with set counts (hand-computed)', () => {
    expect(rougeL('the cat sat', 'the cat sat').f).toBe(f(1, 1));
    // reference words {the, cat, on, mat} (m = 4); prediction {the, cat, sat, on, mat} (n = 5);
    // LCS "the cat on the mat" covers 4 distinct words: R = 1, P = 0.8.
    const score = rougeL('the cat sat on the mat', 'the cat on the mat');
    expect(score).toEqual({ precision: 0.8, recall: 1, f: f(0.8, 1) });
    // Repeats count once: "a a a" vs "a" is a perfect match.
    expect(rougeL('a a a', 'a').f).toBe(f(1, 1));
  });

  it("pools the LCS words of every sentence pair (the package's union LCS)", () => {
    // Lin's example: r = w1..w5; c1 = w1 w2 w6 w7 w8 gives {w1, w2}, c2 = w1 w3 w8 w9 w5 gives
    // {w1, w3, w5}; the union has 4 words. m = 5, n = 8 distinct prediction words.
    const score = rougeL('w1 w2 w6 w7 w8. w1 w3 w8 w9 w5', 'w1 w2 w3 w4 w5');
    expect(score.recall).toBe(0.8);
    expect(score.precision).toBe(0.5);
    expect(score.f).toBe(f(0.5, 0.8));
  });

  it('picks the same LCS as the package where several exist (it decides which words are pooled)', () => {
    // "a b" vs "b a": both "a" and "b" are LCSs; the package's back-tracking takes "b", and the
    // second sentence "b" adds nothing, so one word is pooled: P = R = 1/2.
    expect(rougeL('b a. b', 'a b').f).toBe(f(0.5, 0.5));
  });

  it('is case-sensitive and splits sentences on "." only', () => {
    expect(rougeL('The cat', 'the cat').f).toBe(f(0.5, 0.5));
    // "x.y" is two sentences; "x y" one: the words are the same either way.
    expect(rougeL('x.y', 'x y').f).toBe(f(1, 1));
  });

  it('compares Unicode words exactly (no lower-casing, no normalisation)', () => {
    // {au, lait} of 3 distinct words on each side: "café" and "Café" differ.
    expect(rougeL('café au lait', 'Café au lait').f).toBe(f(2 / 3, 2 / 3));
    expect(rougeL('naïve 😀 words', 'naïve 😀 words').f).toBe(f(1, 1));
  });

  it('scores an empty prediction, one of only periods, and an empty answer 0', () => {
    expect(rougeL('', 'the cat').f).toBe(0);
    expect(rougeL('...', 'the cat').f).toBe(0);
    expect(rougeL('the cat', '').f).toBe(0);
    // A whitespace-only sentence is one empty word: it matches nothing.
    expect(rougeL('   ', 'the cat').f).toBe(0);
  });

  it("scores long sentences (the original's recursive LCS passes Python's recursion limit there and scores 0; kept: the real score)", () => {
    const words = Array.from({ length: 600 }, (_, i) => `w${i}`).join(' ');
    expect(rougeL(words, words).f).toBe(f(1, 1));
  });
});

describe('Chinese ROUGE-L (rouge_zh: jieba tokens joined by spaces)', () => {
  it('is ROUGE-L over jieba words (hand-computed)', () => {
    // "我 来到 北京 清华大学" vs "我 来到 北京": all 3 reference words found, 3 of 4 predicted.
    expect(metricScore('rouge_zh', '我来到北京清华大学', '我来到北京')).toBe(f(0.75, 1));
    expect(metricScore('rouge_zh', '', '我来到北京')).toBe(0);
  });
});
