// The multi-passkey samples: lengths, needle and tail structure, the original's strings and padding,
// determinism per seed, and errors before any training.

import { join } from 'node:path';
import { createRng, defaultModelDirectory, loadTokenizer, type Tokenizer } from '@duo-attn/core';
import { fixturesDirectory } from '@duo-attn/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  NATO_WORDS,
  ORIGINAL_PASSKEY_TEMPLATES,
  PasskeyDataset,
  TOY_PASSKEY_TEMPLATES,
} from '../src/index.js';

const HAYSTACK = 'The river ran past the mill. Birds sang over the water, and the boats came home. '.repeat(
  400,
);

let toy: Tokenizer;
let fixture: Tokenizer;
beforeAll(async () => {
  toy = await loadTokenizer(defaultModelDirectory());
  fixture = await loadTokenizer(join(fixturesDirectory(), 'tokenizer'));
});

function indexOf(haystack: readonly number[], needle: readonly number[], from = 0): number {
  for (let i = from; i + needle.length <= haystack.length; i++) {
    if (needle.every((id, j) => haystack[i + j] === id)) return i;
  }
  return -1;
}

describe('PasskeyDataset with the toy format', () => {
  const make = (options: Partial<ConstructorParameters<typeof PasskeyDataset>[0]> = {}) =>
    new PasskeyDataset({
      tokenizer: toy,
      haystack: HAYSTACK,
      templates: TOY_PASSKEY_TEMPLATES,
      minContext: 200,
      maxContext: 1000,
      contextIntervals: 5,
      numPasskeys: 3,
      ...options,
    });

  it('hides every passkey in the context and asks for each in document order in the supervised tail', () => {
    const dataset = make();
    expect(dataset.size).toBe(5);
    for (let index = 0; index < dataset.size; index++) {
      const sample = dataset.sample(index, createRng(index));
      expect(sample.inputIds.length).toBeLessThanOrEqual(dataset.maxLength);
      expect(sample.contextLength).toBe(dataset.contextLengths[index]);
      expect(sample.passkeys).toHaveLength(3);
      expect(sample.depths).toEqual([...sample.depths].sort((a, b) => a - b));
      const tailStart = sample.labelPositions[0]!;
      expect(sample.labelPositions).toEqual(
        Array.from({ length: sample.inputIds.length - tailStart }, (_, i) => tailStart + i),
      );
      const tail = toy.decode(sample.inputIds.slice(tailStart));
      let last = -1;
      for (const passkey of sample.passkeys) {
        expect(passkey).toMatch(/^[1-9]\d{6}$/);
        // In the context, before the tail; and answered in the tail in the same order.
        const context = toy.decode(sample.inputIds.slice(0, tailStart));
        expect(context).toContain(`is ${passkey}.`);
        const at = tail.indexOf(`is ${passkey}.`);
        expect(at).toBeGreaterThan(last);
        last = at;
      }
      expect(sample.inputIds[0]).toBe(toy.bosTokenId);
    }
  });

  it('draws the same samples for the same generator, others for another', () => {
    const dataset = make();
    expect(dataset.sample(2, createRng(9))).toEqual(dataset.sample(2, createRng(9)));
    expect(dataset.sample(2, createRng(10)).passkeys).not.toEqual(dataset.sample(2, createRng(9)).passkeys);
  });

  it('cuts the haystack so a sample never exceeds maxLength', () => {
    const dataset = make({ maxLength: 600 });
    const sample = dataset.sample(4, createRng(1));
    expect(sample.inputIds.length).toBeLessThanOrEqual(600);
    expect(sample.contextLength).toBeLessThan(1000);
  });

  it('refuses a haystack too short, too many passkeys, or no room, before any work', () => {
    expect(() => make({ haystack: 'short text.' })).toThrow(
      /the haystack has \d+ tokens; the longest context needs 1000/,
    );
    expect(() => make({ numPasskeys: 0 })).toThrow(/numPasskeys/);
    expect(() => make({ minContext: 10, maxContext: 5 })).toThrow(/context lengths/);
    expect(() => make({ maxLength: 20 }).sample(0, createRng(0))).toThrow(/more than maxLength 20/);
    expect(() => make({ templates: { ...ORIGINAL_PASSKEY_TEMPLATES }, numPasskeys: 21 })).toThrow(
      /at most 20/,
    );
  });
});

describe('PasskeyDataset with the original strings', () => {
  it('encodes each piece on its own, uses 32 NATO words, and pads to a multiple of 16 (1..16 tokens)', () => {
    const dataset = new PasskeyDataset({
      tokenizer: fixture,
      haystack: HAYSTACK,
      templates: ORIGINAL_PASSKEY_TEMPLATES,
      minContext: 300,
      maxContext: 1200,
      contextIntervals: 4,
      numPasskeys: 2,
      padToMultipleOf16: true,
    });
    for (let index = 0; index < 4; index++) {
      const sample = dataset.sample(index, createRng(index + 5));
      expect(sample.inputIds.length % 16).toBe(0);
      for (const passkey of sample.passkeys) {
        const words = passkey.split(' ');
        expect(words).toHaveLength(32);
        for (const word of words) expect(NATO_WORDS).toContain(word);
      }
      const encode = (text: string) => fixture.encode(text, { addSpecialTokens: false });
      const needle = [
        ...encode('\n\n'),
        ...encode("Remeber this sequence of words, it's the first passkey to the vault: "),
        ...encode(sample.passkeys[0]!),
        ...encode('\n\n'),
      ];
      const at = indexOf(sample.inputIds, needle);
      expect(at).toBeGreaterThan(0);
      const question = [
        ...encode('Based on the content of the book, what is the first passkey to the vault?\nPasskey: '),
        ...encode(sample.passkeys[0]!),
        ...encode('\n\n'),
      ];
      expect(indexOf(sample.inputIds, question)).toBe(sample.labelPositions[0]);
      expect(sample.inputIds.slice(0, 2)).toEqual(
        fixture.encode('<|im_start|> This is a very long story book: <book> ').slice(0, 2),
      );
    }
  });
});
