// Whole-number matching of retrieval answers, including the digit-run boundary cases.
import { describe, expect, it } from 'vitest';
import { EvalOptionError } from '../errors.js';
import { containsValue } from './exact-match.js';

describe('containsValue', () => {
  it('finds a value standing alone or next to non-digits', () => {
    expect(containsValue('1234567', '1234567')).toBe(true);
    expect(containsValue('The pass key is 1234567.', '1234567')).toBe(true);
    expect(containsValue('(1234567)', '1234567')).toBe(true);
    expect(containsValue('key=1234567abc', '1234567')).toBe(true);
    expect(containsValue('-1234567', '1234567')).toBe(true);
    expect(containsValue('1234567.5', '1234567')).toBe(true);
  });

  it('rejects a value that is part of a longer digit run', () => {
    expect(containsValue('91234567', '1234567')).toBe(false);
    expect(containsValue('12345678', '1234567')).toBe(false);
    expect(containsValue('912345678', '1234567')).toBe(false);
    expect(containsValue('123456', '1234567')).toBe(false);
    expect(containsValue('', '1234567')).toBe(false);
    expect(containsValue('1 234 567', '1234567')).toBe(false);
  });

  it('keeps searching past a rejected occurrence, overlapping ones included', () => {
    expect(containsValue('91234567 then 1234567', '1234567')).toBe(true);
    expect(containsValue('12345678, 91234567', '1234567')).toBe(false);
    expect(containsValue('111 11', '11')).toBe(true);
    expect(containsValue('111', '11')).toBe(false);
  });

  it('treats only ASCII digits as digits and checks only the digit ends of the value', () => {
    expect(containsValue('１1234567', '1234567')).toBe(true); // full-width 1 is not an ASCII digit
    expect(containsValue('3v12', 'v12')).toBe(true); // the value starts with a letter
    expect(containsValue('3v123', 'v12')).toBe(false); // but ends with a digit
  });

  it('rejects bad arguments with a typed error', () => {
    expect(() => containsValue('abc', '')).toThrow(EvalOptionError);
    expect(() => containsValue(undefined as unknown as string, '1')).toThrow(/output must be a string/);
    expect(() => containsValue('1', 1 as unknown as string)).toThrow(/value must be a non-empty string/);
  });
});
