import { describe, expect, it } from 'vitest';
import { codeSimilarity, firstCodeLine, fuzzRatio } from './code-similarity.js';
import { similarityRatio } from './sequence-matcher.js';

describe('firstCodeLine', () => {
  it('drops leading newlines, then takes the first line without ` # or //', () => {
    expect(firstCodeLine('\n\n# comment\nx = 1\ny = 2')).toBe('x = 1');
    expect(firstCodeLine('```python\nreturn a + b\n```')).toBe('return a + b');
  });

  it('skips lines that contain # or // anywhere, not only at their start', () => {
    expect(firstCodeLine("url = 'http://x'\nfoo()")).toBe('foo()');
    expect(firstCodeLine('x = 1  # note\ny = 2')).toBe('y = 2');
  });

  it('is empty when every line has one', () => {
    expect(firstCodeLine('# a\n// b')).toBe('');
    expect(firstCodeLine('')).toBe('');
  });
});

describe('fuzzRatio (fuzzywuzzy fuzz.ratio)', () => {
  it('is round(100 · 2M / T) with difflib matching (hand-computed)', () => {
    // "abcd" / "abce": 3 matches of 8 characters → 75.
    expect(fuzzRatio('abcd', 'abce')).toBe(75);
    expect(fuzzRatio('same', 'same')).toBe(100);
  });

  it('rounds half to even like Python (12.5 → 12, 37.5 → 38)', () => {
    expect(fuzzRatio('abcdefgh', 'aijklmno')).toBe(12);
    expect(fuzzRatio('abcdefgh', 'abcijklm')).toBe(38);
  });

  it('checks equality before emptiness: two empty strings are 100, one empty string 0', () => {
    expect(fuzzRatio('', '')).toBe(100);
    expect(fuzzRatio('', 'x = 1')).toBe(0);
    expect(fuzzRatio('x = 1', '')).toBe(0);
  });

  it("can find fewer matches with difflib's blocks than the LCS python-Levenshtein uses (38 vs 50)", () => {
    // difflib takes the longest block "abc" first, which leaves nothing for "12" and "45".
    expect(similarityRatio('12345abc', 'abc12x45')).toBe(6 / 16);
    expect(similarityRatio('12345abc', 'abc12x45', 'levenshtein')).toBe(8 / 16);
    expect(fuzzRatio('12345abc', 'abc12x45')).toBe(38);
    expect(fuzzRatio('12345abc', 'abc12x45', 'levenshtein')).toBe(50);
  });

  it("applies difflib's autojunk: in a 200+ character string, a character seen over 1 + n/100 times starts no match", () => {
    expect(similarityRatio('xa', 'a'.repeat(200))).toBe(0);
    expect(similarityRatio('xa', 'a'.repeat(199))).toBe(2 / 201);
    // difflib extends even an empty match at the start of the range over equal characters, so
    // "a" against 200 "a"s still finds one (Python: 0.009950248756218905).
    expect(similarityRatio('a', 'a'.repeat(200))).toBe(2 / 201);
    // A match found elsewhere still extends over popular characters: "ab" matches at the end.
    expect(similarityRatio('ab', `${'a'.repeat(200)}b`)).toBe(4 / 203);
  });

  it('compares code points, not UTF-16 units', () => {
    expect(fuzzRatio('😀a', '😀b')).toBe(50);
  });
});

describe('codeSimilarity', () => {
  it('is fuzz.ratio / 100 of the first code line against the answer', () => {
    expect(codeSimilarity('\n// continue\n    return x', '    return x')).toBe(1);
    expect(codeSimilarity('# only a comment', '    return x')).toBe(0);
    expect(codeSimilarity('abcd\nmore', 'abce')).toBe(0.75);
  });
});
