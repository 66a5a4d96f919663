// Checks loadTokenizer against goldens produced by HF tokenizers/transformers (tools/reference): the
// same ids for encode, the same text for decode, the same prompt text and ids for chat templates.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type ChatMessage, loadTokenizer, type Tokenizer } from './index.js';

interface EncodeGolden {
  tokenizer: string;
  text: string;
  addSpecialTokens: boolean;
  ids: number[];
}
interface DecodeGolden {
  tokenizer: string;
  ids: number[];
  skipSpecialTokens: boolean;
  text: string;
}
interface ChatGolden {
  tokenizer: string;
  messages: ChatMessage[];
  addGenerationPrompt: boolean;
  text: string;
  ids: number[];
}
interface Goldens {
  /** Facts about every golden tokenizer (optional in the file). */
  vocabSize?: number;
  bosTokenId?: number;
  eosTokenId?: number;
  specialTokens?: Record<string, number>;
  encode: EncodeGolden[];
  decode: DecodeGolden[];
  chat: ChatGolden[];
}

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const GOLDENS = join(FIXTURES, 'tokenizer-goldens.json');

/** Short printable label of a string for test names. */
const label = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

if (!existsSync(GOLDENS)) {
  console.warn(`tokenizer goldens skipped: ${GOLDENS} not found (generate it with tools/reference)`);
  describe('tokenizer goldens', () => {
    it.skip(`SKIPPED: ${GOLDENS} not found (generate it with tools/reference)`, () => {});
  });
} else {
  const goldens = JSON.parse(readFileSync(GOLDENS, 'utf8')) as Goldens;
  const names = new Set([...goldens.encode, ...goldens.decode, ...goldens.chat].map((g) => g.tokenizer));
  const tokenizers = new Map<string, Tokenizer>();
  for (const name of names) tokenizers.set(name, await loadTokenizer(join(FIXTURES, name)));
  const get = (name: string) => tokenizers.get(name)!;

  describe('tokenizer goldens (HF tokenizers / transformers)', () => {
    it('has cases of every kind', () => {
      expect(goldens.encode.length).toBeGreaterThan(0);
      expect(goldens.decode.length).toBeGreaterThan(0);
      expect(goldens.chat.length).toBeGreaterThan(0);
    });

    it.each([...names])('%s: vocabulary size, BOS/EOS and special tokens', (name) => {
      const tok = get(name);
      if (goldens.vocabSize !== undefined) expect(tok.vocabSize).toBe(goldens.vocabSize);
      if (goldens.bosTokenId !== undefined) expect(tok.bosTokenId).toBe(goldens.bosTokenId);
      if (goldens.eosTokenId !== undefined) expect(tok.eosTokenIds).toEqual([goldens.eosTokenId]);
      for (const [content, id] of Object.entries(goldens.specialTokens ?? {})) {
        expect(tok.tokenToId(content), content).toBe(id);
        expect(tok.isSpecialToken(id), content).toBe(true);
      }
      expect(tok.hasChatTemplate).toBe(true);
    });

    it.each(goldens.encode.map((g, i) => [i, g] as const))('encode #%i', (_, g) => {
      const name = `${g.tokenizer} ${label(g.text)} addSpecialTokens=${g.addSpecialTokens}`;
      expect(get(g.tokenizer).encode(g.text, { addSpecialTokens: g.addSpecialTokens }), name).toEqual(g.ids);
    });

    it.each(goldens.decode.map((g, i) => [i, g] as const))('decode #%i', (_, g) => {
      const tok = get(g.tokenizer);
      const name = `${g.tokenizer} ${JSON.stringify(g.ids)} skipSpecialTokens=${g.skipSpecialTokens}`;
      expect(tok.decode(g.ids, { skipSpecialTokens: g.skipSpecialTokens }), name).toBe(g.text);
      // The stream must reproduce decode exactly.
      const stream = tok.createDecodeStream({ skipSpecialTokens: g.skipSpecialTokens });
      const streamed = g.ids.map((id) => stream.push(id)).join('') + stream.flush();
      expect(streamed, `${name} (stream)`).toBe(g.text);
    });

    it.each(goldens.chat.map((g, i) => [i, g] as const))('chat #%i', (_, g) => {
      const tok = get(g.tokenizer);
      const name = `${g.tokenizer} ${g.messages.length} messages addGenerationPrompt=${g.addGenerationPrompt}`;
      const text = tok.applyChatTemplate(g.messages, { addGenerationPrompt: g.addGenerationPrompt });
      expect(text, name).toBe(g.text);
      // transformers tokenizes rendered chats without adding special tokens.
      expect(tok.encode(text, { addSpecialTokens: false }), `${name} (ids)`).toEqual(g.ids);
    });
  });
}
