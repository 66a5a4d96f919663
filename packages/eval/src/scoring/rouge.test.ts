// Hand-computed ROUGE-1 cases, including the DuoAttention NIAH needle against plausible answers.
import { describe, expect, it } from 'vitest';
import { EvalOptionError } from '../errors.js';
import { rouge1, rougeTokens } from './rouge.js';

const NEEDLE =
  'Remember, the best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.';

// Stemmed needle tokens (22): rememb the best thing to do in san francisco is eat a sandwich and sit
// in dolor park on a sunni day — "in" and "a" twice, every other token once.
// (remember → rememb: step 4 -er with m("rememb") = 2; dolores → dolore → dolor; sunny → sunni.)

function expectScore(
  actual: { precision: number; recall: number; f1: number },
  precision: number,
  recall: number,
  f1: number,
): void {
  expect(actual.precision).toBeCloseTo(precision, 12);
  expect(actual.recall).toBeCloseTo(recall, 12);
  expect(actual.f1).toBeCloseTo(f1, 12);
}

describe('rougeTokens', () => {
  it('tokenises the needle as rouge_score does with the stemmer', () => {
    expect(rougeTokens(NEEDLE)).toEqual(
      (
        'rememb the best thing to do in san francisco is eat a sandwich and sit in dolor park on a ' +
        'sunni day'
      ).split(' '),
    );
  });

  it('lower-cases, splits on every non-[a-z0-9] run and drops empty tokens', () => {
    expect(rougeTokens('  Hello,world!!  e-mail_box\tTAB\n', { stem: false })).toEqual([
      'hello',
      'world',
      'e',
      'mail',
      'box',
      'tab',
    ]);
    expect(rougeTokens('café naïve', { stem: false })).toEqual(['caf', 'na', 've']);
    expect(rougeTokens('abc123def 007 3.14', { stem: false })).toEqual(['abc123def', '007', '3', '14']);
    expect(rougeTokens('')).toEqual([]);
    expect(rougeTokens('?!… —')).toEqual([]);
  });

  it('stems only tokens longer than 3 characters, and only when asked', () => {
    // "this" (4) → "thi" (1a drops s); "was" (3) is left alone although the stemmer would give "wa".
    expect(rougeTokens('This was RUNNING dogs in the 1990s')).toEqual([
      'thi',
      'was',
      'run',
      'dog',
      'in',
      'the',
      '1990',
    ]);
    expect(rougeTokens('This was RUNNING dogs in the 1990s', { stem: false })).toEqual([
      'this',
      'was',
      'running',
      'dogs',
      'in',
      'the',
      '1990s',
    ]);
  });
});

describe('rouge1', () => {
  it('scores the needle against itself and a verbatim repeat as perfect', () => {
    expectScore(rouge1(NEEDLE, NEEDLE), 1, 1, 1);
    expectScore(rouge1(NEEDLE, NEEDLE.toUpperCase().replaceAll(',', ' ;; ')), 1, 1, 1);
  });

  it('scores the usual continuation "eat a sandwich and sit in Dolores Park on a sunny day."', () => {
    // Prediction tokens (12): eat a sandwich and sit in dolor park on a sunni day.
    // Overlap: eat 1 + a min(2,2)=2 + sandwich 1 + and 1 + sit 1 + in min(2,1)=1 + dolor 1 + park 1
    //          + on 1 + sunni 1 + day 1 = 12.
    // P = 12/12 = 1, R = 12/22 = 6/11, F = 2·1·(6/11) / (1 + 6/11) = (12/11)/(17/11) = 12/17 ≈ 0.70588.
    expectScore(
      rouge1(NEEDLE, ' eat a sandwich and sit in Dolores Park on a sunny day.'),
      1,
      6 / 11,
      12 / 17,
    );
  });

  it('lets stemming match "eating" with "eat"', () => {
    // Stemmed prediction (6): eat (eating → eat+e by AT→ATE, then 5a drops e) a sandwich in dolor park.
    // Overlap 6. P = 6/6 = 1, R = 6/22 = 3/11, F = 2·(3/11)/(14/11) = 6/14 = 3/7 ≈ 0.428571.
    expectScore(rouge1(NEEDLE, 'Eating a sandwich in Dolores Park.'), 1, 3 / 11, 3 / 7);
    // Unstemmed: "eating" ≠ "eat", overlap 5 (a, sandwich, in, dolores, park).
    // P = 5/6, R = 5/22, F = 2·(5/6)(5/22) / (5/6 + 5/22) = (50/132)/(140/132) = 5/14 ≈ 0.357143.
    expectScore(rouge1(NEEDLE, 'Eating a sandwich in Dolores Park.', { stem: false }), 5 / 6, 5 / 22, 5 / 14);
  });

  it('scores a partly right answer with digits and punctuation', () => {
    // Prediction (7): go to alcatraz 2 time(s → 1a) a day. Overlap: to 1 + a 1 + day 1 = 3.
    // P = 3/7, R = 3/22, F = 2·(3/7)(3/22) / (3/7 + 3/22) = (18/154)/(87/154) = 18/87 = 6/29 ≈ 0.206897.
    expectScore(rouge1(NEEDLE, 'Go to Alcatraz, 2 times a day!'), 3 / 7, 3 / 22, 6 / 29);
  });

  it('produces the same doubles as rouge_score (same operation order)', () => {
    // Python's 2 * p * r / (p + r) prints 0.7058823529411764 for p = 1.0, r = 12/22: one ulp below the
    // correctly rounded 12/17 (…765); 6/29 comes out as …793 and 4/7 as 0.5714285714285715 (4/7 is …714).
    expect(rouge1(NEEDLE, 'eat a sandwich and sit in Dolores Park on a sunny day').f1).toBe(
      0.7058823529411764,
    );
    expect(rouge1(NEEDLE, 'Go to Alcatraz, 2 times a day!').f1).toBe(0.20689655172413793);
    expect(rouge1('the cat the cat', 'the the the').f1).toBe(0.5714285714285715);
  });

  it('scores an unrelated answer as zero', () => {
    // Tokens: i don t know — none occurs in the needle.
    expectScore(rouge1(NEEDLE, "I don't know."), 0, 0, 0);
  });

  it('counts repeated words as a multiset', () => {
    // Reference: the×2 cat×2 (4 tokens); prediction: the×3 (3 tokens); overlap min(2,3) = 2.
    // P = 2/3, R = 2/4 = 1/2, F = 2·(2/3)(1/2) / (2/3 + 1/2) = (2/3)/(7/6) = 4/7.
    expectScore(rouge1('the cat the cat', 'the the the'), 2 / 3, 1 / 2, 4 / 7);
    // Swapping roles swaps P and R: P = 2/4, R = 2/3, F still 4/7.
    expectScore(rouge1('the the the', 'the cat the cat'), 1 / 2, 2 / 3, 4 / 7);
  });

  it('returns zeros for empty or token-free texts', () => {
    expectScore(rouge1('', ''), 0, 0, 0);
    expectScore(rouge1('abc', ''), 0, 0, 0);
    expectScore(rouge1('', 'abc'), 0, 0, 0);
    expectScore(rouge1('!!!', '...'), 0, 0, 0);
  });

  it('rejects non-string input with a typed error', () => {
    expect(() => rouge1(NEEDLE, undefined as unknown as string)).toThrow(EvalOptionError);
    expect(() => rougeTokens(42 as unknown as string)).toThrow(/text must be a string/);
  });
});
