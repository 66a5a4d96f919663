// Unit tests of the windowed decode stream against a toy byte decoder (each id is one byte) and a
// Metaspace-like decoder that strips the leading space of the whole text.

import { describe, expect, it } from 'vitest';
import { WindowedDecodeStream } from './decode-stream.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });
const byteDecode = (ids: readonly number[]) => utf8.decode(new Uint8Array(ids));

function streamAll(stream: WindowedDecodeStream, ids: readonly number[]): string[] {
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.flush());
  return pieces;
}

describe('WindowedDecodeStream', () => {
  it('holds back split multibyte characters and never emits U+FFFD for them', () => {
    const text = 'a中😀b é';
    const ids = [...new TextEncoder().encode(text)];
    const pieces = streamAll(new WindowedDecodeStream(byteDecode), ids);
    expect(pieces.join('')).toBe(text);
    expect(pieces.some((piece) => piece.includes('\uFFFD'))).toBe(false);
    // '中' is 3 bytes: the first two pushes return nothing, the third the whole character.
    expect(pieces.slice(1, 4)).toEqual(['', '', '中']);
    expect(pieces.slice(4, 8)).toEqual(['', '', '', '😀']);
  });

  it('emits an incomplete character as U+FFFD on flush, and a broken one once it cannot complete', () => {
    const stream = new WindowedDecodeStream(byteDecode);
    expect(stream.push(0x61)).toBe('a');
    expect(stream.push(0xe4)).toBe('');
    expect(stream.flush()).toBe('\uFFFD');
    // After flush the stream starts afresh.
    expect(stream.push(0x62)).toBe('b');
    // A lead byte followed by ASCII can never complete: emitted with the ASCII.
    expect(stream.push(0xe4)).toBe('');
    expect(stream.push(0x63)).toBe('\uFFFDc');
  });

  it('keeps context so leading-space-stripping decoders keep inner spaces', () => {
    // Pieces use '▁' for a space; the decoder strips one leading space of the whole text.
    const pieces = ['▁Hello', '▁world', '!', '▁again'];
    const decode = (ids: readonly number[]) =>
      ids
        .map((id) => pieces[id] ?? '')
        .join('')
        .replaceAll('▁', ' ')
        .replace(/^ /, '');
    const out = streamAll(new WindowedDecodeStream(decode), [0, 1, 2, 3]);
    expect(out).toEqual(['Hello', ' world', '!', ' again', '']);
  });

  it('leaves its state unchanged when decode throws', () => {
    const decode = (ids: readonly number[]) => {
      if (ids.includes(999)) throw new Error('bad id');
      return byteDecode(ids);
    };
    const stream = new WindowedDecodeStream(decode);
    expect(stream.push(0x61)).toBe('a');
    expect(() => stream.push(999)).toThrow('bad id');
    expect(stream.push(0x62)).toBe('b');
  });
});
