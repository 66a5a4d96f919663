import { describe, expect, it } from 'vitest';
import { codePoints, pythonSplit, pythonStrip } from './python-text.js';

describe("Python's str.split() and str.strip()", () => {
  it("use Python's whitespace: \\x1c-\\x1f and \\x85 yes, U+FEFF no (JS trim is the other way round)", () => {
    expect(pythonSplit(' a\x1cb\x85c\u3000d  ')).toEqual(['a', 'b', 'c', 'd']);
    expect(pythonSplit('a\ufeffb')).toEqual(['a\ufeffb']);
    expect(pythonSplit('')).toEqual([]);
    expect(pythonStrip('\x1f\n x \u00a0')).toBe('x');
    expect(pythonStrip('\ufeffx')).toBe('\ufeffx');
  });

  it('count code points, as a Python str does', () => {
    expect(codePoints('a😀b')).toEqual(['a', '😀', 'b']);
  });
});
