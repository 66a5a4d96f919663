import { describe, expect, it } from 'vitest';
import { LongBenchDataError } from '../longbench-errors.js';
import { countScore, paragraphId, retrievalScore } from './number-match.js';

describe('retrievalScore', () => {
  it('is the share of numbers in the prediction equal to the paragraph id', () => {
    expect(retrievalScore('Paragraph 12', 'Paragraph 12', 'en')).toBe(1);
    expect(retrievalScore('Paragraph 12 or Paragraph 3', 'Paragraph 12', 'en')).toBe(0.5);
    expect(retrievalScore('I do not know', 'Paragraph 12', 'en')).toBe(0);
    expect(retrievalScore('', 'Paragraph 12', 'en')).toBe(0);
    expect(retrievalScore('答案是段落5', '段落5', 'zh')).toBe(1);
  });

  it('compares numbers as strings ("012" is not "12")', () => {
    expect(retrievalScore('Paragraph 012', 'Paragraph 12', 'en')).toBe(0);
  });

  it("counts runs of any Unicode digits as numbers, as Python's \\d does", () => {
    // "１２" (full-width) is a number that is not "12": one of two numbers matches.
    expect(retrievalScore('段落１２ 或 段落12', '段落12', 'zh')).toBe(0.5);
  });

  it('refuses an answer without a paragraph id, with a typed error (the original crashes)', () => {
    expect(() => paragraphId('no id here', 'en')).toThrow(LongBenchDataError);
    expect(() => retrievalScore('1', 'Paragraph twelve', 'en')).toThrow(/"Paragraph N"/);
    expect(paragraphId('The answer is Paragraph 7 (and Paragraph 9)', 'en')).toBe('7');
  });
});

describe('countScore', () => {
  it('is the share of numbers equal to the answer', () => {
    expect(countScore('There are 14 unique paragraphs', '14')).toBe(1);
    expect(countScore('14 of 20', '14')).toBe(0.5);
    expect(countScore('fourteen', '14')).toBe(0);
    expect(countScore('', '14')).toBe(0);
  });
});
