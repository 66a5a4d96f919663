import { describe, expect, it } from 'vitest';
import { DuoError, formatLocation } from './errors.js';

describe('DuoError', () => {
  it('is recognised by marker, including subclasses', () => {
    class SubError extends DuoError {}
    const error = new SubError('E_TEST', 'boom');
    expect(DuoError.isInstance(error)).toBe(true);
    expect(error.code).toBe('E_TEST');
    expect(DuoError.isInstance(new Error('plain'))).toBe(false);
    expect(DuoError.isInstance(null)).toBe(false);
    expect(DuoError.isInstance({ [Symbol.for('duo-attn.error')]: true })).toBe(true);
  });

  it('formats locations with what is known', () => {
    expect(formatLocation({ file: 'a.tsv' })).toBe('a.tsv');
    expect(formatLocation({ file: 'a.tsv', line: 3 })).toBe('a.tsv:3');
    expect(formatLocation({ file: 'a.tsv', line: 3, column: 2 })).toBe('a.tsv:3:2');
  });
});
