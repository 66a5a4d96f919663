import { describe, expect, it } from 'vitest';
import { jiebaCut } from './chinese-segmenter.js';
import { normalizeAnswer, normalizeZhAnswer, qaF1, qaF1Zh, tokenF1 } from './qa-f1.js';

describe('normalizeAnswer (English)', () => {
  it('lower-cases, deletes ASCII punctuation, drops whole-word articles, collapses whitespace', () => {
    expect(normalizeAnswer("The Cat's hat, a (big) one!")).toBe('cats hat big one');
    expect(normalizeAnswer('  An   apple\tAND\nthe pear  ')).toBe('apple and pear');
  });

  it('removes punctuation before articles, so words joined by hyphens stay one word', () => {
    // "state-of-the-art" → "stateoftheart": its "the" is never a word of its own.
    expect(normalizeAnswer('state-of-the-art')).toBe('stateoftheart');
  });

  it('treats Unicode letters as word characters, as Python\'s \\b does ("a" in "éa" is no article)', () => {
    expect(normalizeAnswer('éa b')).toBe('éa b');
    expect(normalizeAnswer('the café')).toBe('café');
    expect(normalizeAnswer('a1 the 2a')).toBe('a1 2a');
  });

  it("splits on Python's whitespace: NBSP and U+3000 yes, U+FEFF no", () => {
    expect(normalizeAnswer('x\u00a0y\u3000z')).toBe('x y z');
    expect(normalizeAnswer('x\ufeffy')).toBe('x\ufeffy');
  });
});

describe('qaF1', () => {
  it('is token F1 of the normalised strings (hand-computed)', () => {
    // prediction [cat, sat, on, mat], answer [cat, on, mat]: P = 3/4, R = 1.
    expect(qaF1('The cat sat on the mat.', 'a cat on a mat')).toBeCloseTo((2 * 0.75) / 1.75, 15);
    expect(qaF1('Paris', 'paris!')).toBe(1);
  });

  it('counts repeated tokens as a multiset', () => {
    // overlap 1 of 3 prediction tokens: P = 1/3, R = 1, F1 = 0.5.
    expect(qaF1('yes yes yes', 'yes')).toBe(0.5);
    expect(tokenF1(['a', 'a', 'b'], ['a', 'a', 'a'])).toBeCloseTo((2 * (2 / 3) * (2 / 3)) / (4 / 3), 15);
  });

  it('scores an empty prediction, an article-only one and an empty answer 0', () => {
    expect(qaF1('', 'Paris')).toBe(0);
    expect(qaF1('the', 'Paris')).toBe(0);
    expect(qaF1('Paris', '')).toBe(0);
    expect(qaF1('', '')).toBe(0);
  });
});

describe('qaF1Zh', () => {
  it("segments with jieba's precise mode", () => {
    expect(jiebaCut('我来到北京清华大学')).toEqual(['我', '来到', '北京', '清华大学']);
    expect(jiebaCut('南京市长江大桥')).toEqual(['南京市', '长江大桥']);
    expect(jiebaCut('')).toEqual([]);
  });

  it('is token F1 over normalised jieba tokens (hand-computed)', () => {
    // [我, 来到, 北京, 清华大学] vs [北京, 清华大学]: P = 2/4, R = 1, F1 = 2/3.
    expect(qaF1Zh('我来到北京清华大学', '北京清华大学')).toBeCloseTo(2 / 3, 15);
    expect(qaF1Zh('北京。', '北京')).toBe(1);
    expect(qaF1Zh('', '北京')).toBe(0);
  });

  it('removes LongBench\'s punctuation list, which has "》" but not "《" (kept, so scores match)', () => {
    expect(normalizeZhAnswer('《红楼梦》，很好！')).toBe('《红楼梦很好');
    // The tokens 《 and 》 of "《红楼梦》": 》 normalises to nothing and is dropped, 《 stays a token.
    // [他, 说, 《, 红楼梦, 很, 好] vs [红楼梦]: P = 1/6, R = 1.
    expect(qaF1Zh('他说：《红楼梦》很好。', '红楼梦')).toBeCloseTo((2 * (1 / 6)) / (7 / 6), 15);
  });
});
