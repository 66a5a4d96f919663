// Tests loadTokenizer on a tiny byte-level BPE written by the test itself (byte-level pre-tokenizer
// after individual-digit splitting, a few merges, added special tokens), with ids worked out by hand.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuoError } from '../errors.js';
import { loadTokenizer, type Tokenizer, TokenizerError } from './index.js';

/** GPT-2's reversible byte -> printable character map. */
function bytesToUnicode(): string[] {
  const printable = new Set<number>();
  for (const [from, to] of [
    [0x21, 0x7e],
    [0xa1, 0xac],
    [0xae, 0xff],
  ] as const) {
    for (let b = from; b <= to; b++) printable.add(b);
  }
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable.has(b) ? b : 256 + extra++));
  return table;
}

const BYTE_CHARS = bytesToUnicode();
const byteChar = (b: number) => BYTE_CHARS[b]!;
const G = byteChar(0x20); // 'Ġ'

/** Merges in rank order; merge i creates token id 256 + i. */
const MERGES: [string, string][] = [
  [G, 't'], // 256 Ġt
  ['h', 'e'], // 257 he
  [G + 't', 'he'], // 258 Ġthe
  [G, G], // 259 ĠĠ
  [byteChar(0xe4), byteChar(0xb8)], // 260: first two bytes of 中 (E4 B8 AD)
  [byteChar(0xf0), byteChar(0x9f)], // 261: first two bytes of most emoji
  ['l', 'l'], // 262 ll
  ['he', 'll'], // 263 hell
  ['hell', 'o'], // 264 hello
  ['2', '0'], // 265 "20": only reachable if digits were not split
];

const ID = {
  hello: 264,
  Gthe: 258,
  GG: 259,
  cjkHead: 260,
  emojiHead: 261,
  twenty: 265,
  bos: 266,
  eos: 267,
  imStart: 268,
  imEnd: 269,
  note: 270,
} as const;

function addedToken(id: number, content: string, special: boolean) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

/** tokenizer.json of the tiny byte-level BPE; `postProcessor` as in the file. */
function tinyTokenizerJson(postProcessor: unknown): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_CHARS.forEach((char, byte) => {
    vocab[char] = byte;
  });
  MERGES.forEach(([a, b], rank) => {
    vocab[a + b] = 256 + rank;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      addedToken(ID.bos, '<|bos|>', true),
      addedToken(ID.eos, '<|eos|>', true),
      addedToken(ID.imStart, '<|im_start|>', true),
      addedToken(ID.imEnd, '<|im_end|>', true),
      addedToken(ID.note, '<note>', false),
    ],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: MERGES,
    },
  };
}

const BYTE_LEVEL_POST = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
const BOS_TEMPLATE_POST = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
  pair: [
    { SpecialToken: { id: '<|bos|>', type_id: 0 } },
    { Sequence: { id: 'A', type_id: 0 } },
    { SpecialToken: { id: '<|bos|>', type_id: 1 } },
    { Sequence: { id: 'B', type_id: 1 } },
  ],
  special_tokens: { '<|bos|>': { id: '<|bos|>', ids: [ID.bos], tokens: ['<|bos|>'] } },
};

const CHATML_TEMPLATE =
  "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('Conversations must not start with the assistant') }}{% endif %}" +
  "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const JINJA_FILE_TEMPLATE = `{%- for m in messages %}
[{{ m.role }}] {{ m.content }}{{ eos_token }}
{% endfor -%}
{%- if tools is not none %}TOOLS{% endif -%}
{%- if add_generation_prompt %}[assistant] {% endif %}
`;

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes the given files (objects as JSON, strings verbatim) to a fresh directory. */
async function writeDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'duo-tokenizer-'));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bos_token: '<|bos|>',
    eos_token: { content: '<|eos|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
    clean_up_tokenization_spaces: false,
    ...extra,
  };
}

async function expectTokenizerError(promise: Promise<unknown>, reason: string, mention: string) {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TokenizerError);
  expect(DuoError.isInstance(error)).toBe(true);
  expect((error as TokenizerError).code).toBe('E_TOKENIZER');
  expect((error as TokenizerError).reason).toBe(reason);
  expect((error as Error).message).toContain(mention);
}

describe('loadTokenizer on a tiny byte-level BPE', async () => {
  // ByteLevel post-processor + add_bos_token in the config: transformers rebuilds the post-processor.
  const dir = await writeDir({
    'tokenizer.json': tinyTokenizerJson(BYTE_LEVEL_POST),
    'tokenizer_config.json': baseConfig({ add_bos_token: true, chat_template: CHATML_TEMPLATE }),
  });
  const tok: Tokenizer = await loadTokenizer(dir);

  it('reports vocabulary size, BOS/EOS and special tokens', () => {
    expect(tok.vocabSize).toBe(271);
    expect(tok.bosTokenId).toBe(ID.bos);
    expect(tok.eosTokenIds).toEqual([ID.eos]);
    expect(tok.addBosToken).toBe(true);
    expect(tok.hasChatTemplate).toBe(true);
    expect(tok.isSpecialToken(ID.imEnd)).toBe(true);
    expect(tok.isSpecialToken(ID.note)).toBe(false);
    expect(tok.isSpecialToken(ID.hello)).toBe(false);
    expect(tok.tokenToId('hello')).toBe(ID.hello);
    expect(tok.tokenToId('<|im_start|>')).toBe(ID.imStart);
    expect(tok.idToToken(ID.Gthe)).toBe(`${G}the`);
    expect(tok.idToToken(9999)).toBeUndefined();
    expect(tok.idToToken(-1)).toBeUndefined();
    expect(tok.tokenToId('not-a-token')).toBeUndefined();
  });

  it('applies merges in rank order and adds BOS only with special tokens', () => {
    expect(tok.encode('hello the')).toEqual([ID.bos, ID.hello, ID.Gthe]);
    expect(tok.encode('hello the', { addSpecialTokens: false })).toEqual([ID.hello, ID.Gthe]);
    expect(tok.encode('', { addSpecialTokens: false })).toEqual([]);
  });

  it('splits digits individually before byte-level BPE', () => {
    // Without the Digits pre-tokenizer "2024" would use the "20" merge.
    expect(tok.encode('x 2024', { addSpecialTokens: false })).toEqual([0x78, 0x20, 0x32, 0x30, 0x32, 0x34]);
    expect(tok.encode('2024', { addSpecialTokens: false })).not.toContain(ID.twenty);
  });

  it('keeps whitespace runs as GPT-2 does (run minus one, then the space joins the word)', () => {
    expect(tok.encode('a   b', { addSpecialTokens: false })).toEqual([0x61, ID.GG, 0x20, 0x62]);
    expect(tok.encode('a\n\n\tb', { addSpecialTokens: false })).toEqual([0x61, 0x0a, 0x0a, 0x09, 0x62]);
  });

  it('matches special and added tokens inside text', () => {
    expect(tok.encode('<|im_start|>user\nhi<|im_end|>', { addSpecialTokens: false })).toEqual([
      ID.imStart,
      0x75,
      0x73,
      0x65,
      0x72,
      0x0a,
      0x68,
      0x69,
      ID.imEnd,
    ]);
    expect(tok.encode('a<note>b', { addSpecialTokens: false })).toEqual([0x61, ID.note, 0x62]);
  });

  it('round-trips unicode, emoji, CJK, whitespace and digits', () => {
    const texts = [
      'hello the world',
      'héllo wörld — naïve café',
      '中文字符 and 日本語のテキスト',
      '😀🎉👩‍👩‍👧 family emoji',
      '  leading and trailing   ',
      'tabs\tand\nnewlines\r\n',
      'numbers 3.14159 and 2024-01-01',
      '',
    ];
    for (const text of texts) {
      expect(tok.decode(tok.encode(text, { addSpecialTokens: false }))).toBe(text);
    }
    expect(tok.encode('中', { addSpecialTokens: false })).toEqual([ID.cjkHead, 0xad]);
    expect(tok.encode('😀', { addSpecialTokens: false })).toEqual([ID.emojiHead, 0x98, 0x80]);
  });

  it('decodes special tokens, or skips them on request', () => {
    const ids = tok.encode('<|im_start|>hello<note><|im_end|>');
    expect(ids[0]).toBe(ID.bos);
    expect(tok.decode(ids)).toBe('<|bos|><|im_start|>hello<note><|im_end|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hello<note>');
  });

  it('rejects ids outside the vocabulary with a typed error naming id and size', () => {
    for (const bad of [271, -1, 1.5, 100000]) {
      let caught: unknown;
      try {
        tok.decode([0x61, bad]);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TokenizerError);
      expect((caught as TokenizerError).reason).toBe('token-id');
      expect((caught as Error).message).toContain(`token id ${bad} `);
      expect((caught as Error).message).toContain('vocab size 271');
      expect((caught as Error).message).toContain('tokenizer.json');
    }
  });

  it('streams multibyte characters split across tokens without U+FFFD', () => {
    const text = 'a中b 😀!';
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids).toEqual([0x61, ID.cjkHead, 0xad, 0x62, 0x20, ID.emojiHead, 0x98, 0x80, 0x21]);
    const stream = tok.createDecodeStream();
    const pieces = ids.map((id) => stream.push(id));
    expect(pieces).toEqual(['a', '', '中', 'b', ' ', '', '', '😀', '!']);
    expect(stream.flush()).toBe('');
  });

  it('streams exactly what decode returns, special tokens included or skipped', () => {
    const ids = tok.encode('<|im_start|>user\n日本語 😀 x2<|im_end|>');
    for (const skipSpecialTokens of [false, true]) {
      const stream = tok.createDecodeStream({ skipSpecialTokens });
      const pieces = ids.map((id) => stream.push(id));
      pieces.push(stream.flush());
      expect(pieces.join('')).toBe(tok.decode(ids, { skipSpecialTokens }));
      expect(pieces.join('')).not.toContain('\uFFFD');
    }
  });

  it('renders the chat template of tokenizer_config.json with transformers variables', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi 😀' },
    ];
    expect(tok.applyChatTemplate(messages)).toBe(
      '<|bos|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 😀<|im_end|>\n',
    );
    const prompt = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(prompt.endsWith('<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    // The rendered prompt tokenizes with its special tokens intact.
    const ids = tok.encode(prompt, { addSpecialTokens: false });
    expect(ids[0]).toBe(ID.bos);
    expect(ids.filter((id) => id === ID.imStart)).toHaveLength(3);
  });

  it('turns raise_exception into a typed error naming the file', () => {
    let caught: unknown;
    try {
      tok.applyChatTemplate([{ role: 'assistant', content: 'x' }]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TokenizerError);
    expect((caught as TokenizerError).reason).toBe('chat-template');
    expect((caught as Error).message).toContain('tokenizer_config.json');
    expect((caught as Error).message).toContain('Conversations must not start with the assistant');
  });
});

describe('loadTokenizer: BOS handling follows transformers', () => {
  it('keeps the BOS of a TemplateProcessing post-processor when the config is silent', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(BOS_TEMPLATE_POST),
      'tokenizer_config.json': baseConfig(),
    });
    const tok = await loadTokenizer(dir);
    expect(tok.addBosToken).toBe(true);
    expect(tok.encode('hello')).toEqual([ID.bos, ID.hello]);
  });

  it('rebuilds the post-processor when add_bos_token is set, even to drop BOS', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(BOS_TEMPLATE_POST),
      'tokenizer_config.json': baseConfig({ add_bos_token: false, add_eos_token: true }),
    });
    const tok = await loadTokenizer(dir);
    expect(tok.addBosToken).toBe(false);
    expect(tok.encode('hello')).toEqual([ID.hello, ID.eos]);
  });

  it('adds nothing without a post-processor or config flags; works without tokenizer_config.json', async () => {
    const dir = await writeDir({ 'tokenizer.json': tinyTokenizerJson(null) });
    const tok = await loadTokenizer(dir);
    expect(tok.addBosToken).toBe(false);
    expect(tok.bosTokenId).toBeUndefined();
    expect(tok.eosTokenIds).toEqual([]);
    expect(tok.hasChatTemplate).toBe(false);
    expect(tok.encode('hello')).toEqual([ID.hello]);
  });
});

describe('loadTokenizer: config tokens, generation config and template sources', () => {
  it('adds special tokens named in the config but missing from tokenizer.json, and reads generation eos ids', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'tokenizer_config.json': baseConfig({
        eos_token: '<|endoftext|>',
        added_tokens_decoder: {
          [String(ID.note)]: {
            content: '<note>',
            lstrip: false,
            normalized: false,
            rstrip: false,
            special: true,
          },
        },
      }),
      'generation_config.json': { eos_token_id: [271, ID.imEnd] },
    });
    const tok = await loadTokenizer(dir);
    expect(tok.tokenToId('<|endoftext|>')).toBe(271);
    expect(tok.vocabSize).toBe(272);
    expect(tok.isSpecialToken(271)).toBe(true);
    expect(tok.eosTokenIds).toEqual([271, ID.imEnd]);
    expect(tok.encode('a<|endoftext|>', { addSpecialTokens: false })).toEqual([0x61, 271]);
    // added_tokens_decoder re-flags <note> as special.
    expect(tok.isSpecialToken(ID.note)).toBe(true);
    expect(tok.decode([0x61, ID.note], { skipSpecialTokens: true })).toBe('a');
  });

  it('prefers chat_template.jinja over tokenizer_config.json, and passes tools as none', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'tokenizer_config.json': baseConfig({ chat_template: CHATML_TEMPLATE }),
      'chat_template.jinja': JINJA_FILE_TEMPLATE,
    });
    const tok = await loadTokenizer(dir);
    expect(tok.hasChatTemplate).toBe(true);
    const messages = [
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'two' },
    ];
    expect(tok.applyChatTemplate(messages)).toBe('[user] one<|eos|>\n[assistant] two<|eos|>\n');
    expect(tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      '[user] one<|eos|>\n[assistant] two<|eos|>\n[assistant] ',
    );
  });

  it('picks the "default" template of a named list', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'tokenizer_config.json': baseConfig({
        chat_template: [
          { name: 'tool_use', template: 'TOOLS' },
          {
            name: 'default',
            template: '{{ messages[0].content }}{% if add_generation_prompt %}|G{% endif %}',
          },
        ],
      }),
    });
    const tok = await loadTokenizer(dir);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: true })).toBe(
      'x|G',
    );
  });

  it('says why when there is no chat template', async () => {
    const none = await loadTokenizer(await writeDir({ 'tokenizer.json': tinyTokenizerJson(null) }));
    expect(() => none.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/has no chat template/);
    const noDefault = await loadTokenizer(
      await writeDir({
        'tokenizer.json': tinyTokenizerJson(null),
        'tokenizer_config.json': baseConfig({ chat_template: [{ name: 'rag', template: 'R' }] }),
      }),
    );
    expect(noDefault.hasChatTemplate).toBe(false);
    let caught: unknown;
    try {
      noDefault.applyChatTemplate([{ role: 'user', content: 'x' }]);
    } catch (error) {
      caught = error;
    }
    expect((caught as TokenizerError).reason).toBe('no-chat-template');
    expect((caught as Error).message).toContain('rag');
  });

  it('reports a template that does not parse against its file', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'chat_template.jinja': '{% for m in messages %}{{ m.content }',
    });
    const tok = await loadTokenizer(dir);
    expect(tok.encode('hello')).toEqual([ID.hello]);
    let caught: unknown;
    try {
      tok.applyChatTemplate([{ role: 'user', content: 'x' }]);
    } catch (error) {
      caught = error;
    }
    expect((caught as TokenizerError).reason).toBe('chat-template');
    expect((caught as Error).message).toContain('chat_template.jinja');
  });
});

describe('loadTokenizer errors', () => {
  it('names a missing tokenizer.json', async () => {
    const dir = await writeDir({ 'tokenizer_config.json': baseConfig() });
    await expectTokenizerError(loadTokenizer(dir), 'missing-file', join(dir, 'tokenizer.json'));
  });

  it('names files that are not valid JSON', async () => {
    const badTokenizer = await writeDir({ 'tokenizer.json': '{"model": ' });
    await expectTokenizerError(
      loadTokenizer(badTokenizer),
      'invalid-json',
      join(badTokenizer, 'tokenizer.json'),
    );
    const badConfig = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'tokenizer_config.json': '[1, 2',
    });
    await expectTokenizerError(
      loadTokenizer(badConfig),
      'invalid-json',
      join(badConfig, 'tokenizer_config.json'),
    );
    const notObject = await writeDir({ 'tokenizer.json': '[]' });
    await expectTokenizerError(loadTokenizer(notObject), 'invalid-json', 'JSON object');
  });

  it('names unsupported model types', async () => {
    const json = tinyTokenizerJson(null);
    json.model = { type: 'WordLevel', vocab: { a: 0 }, unk_token: '[UNK]' };
    const dir = await writeDir({ 'tokenizer.json': json });
    await expectTokenizerError(loadTokenizer(dir), 'unsupported', '"WordLevel" is not supported');
  });

  it('names malformed fields', async () => {
    const dir = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'tokenizer_config.json': baseConfig({ bos_token: 42 }),
    });
    await expectTokenizerError(loadTokenizer(dir), 'invalid-config', '"bos_token"');
    const badFlag = await writeDir({
      'tokenizer.json': tinyTokenizerJson(null),
      'tokenizer_config.json': baseConfig({ add_bos_token: 'yes' }),
    });
    await expectTokenizerError(loadTokenizer(badFlag), 'invalid-config', '"add_bos_token" must be a boolean');
  });
});
