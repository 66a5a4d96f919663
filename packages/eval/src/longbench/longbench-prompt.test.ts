import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelDirectory, loadTokenizer, type Tokenizer } from '@duo-attn/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLongBenchPrompt } from './longbench-prompt.js';

const TEXT =
  'You are given a story. Story: the blue door was painted by the old man. Question: who painted it? Answer:';

let plain: Tokenizer;
let chat: Tokenizer;
let dir: string;
beforeAll(async () => {
  const toy = defaultModelDirectory();
  plain = await loadTokenizer(toy);
  // The toy tokenizer with a chat template that trims the message, as Llama-3's does.
  dir = await mkdtemp(join(tmpdir(), 'duo-longbench-chat-'));
  await copyFile(join(toy, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const config = JSON.parse(await readFile(join(toy, 'tokenizer_config.json'), 'utf8'));
  config.chat_template =
    "{{ bos_token }}{% for m in messages %}<user>{{ m['content'] | trim }}</user>{% endfor %}{% if add_generation_prompt %}<bot>{% endif %}";
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  chat = await loadTokenizer(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('buildLongBenchPrompt', () => {
  it('tokenizes with BOS and keeps a prompt that fits as it is', () => {
    const prompt = buildLongBenchPrompt(plain, 'narrativeqa', TEXT, { maxLength: 1000 });
    expect(prompt.ids).toEqual(plain.encode(TEXT));
    expect(prompt.ids[0]).toBe(plain.bosTokenId);
    expect(prompt).toMatchObject({ truncatedTokens: 0, templated: false });
  });

  it('cuts the middle: the first ⌊n/2⌋ and last ⌈n/2⌉ tokens stay, BOS counted in the first half', () => {
    const ids = plain.encode(TEXT);
    const prompt = buildLongBenchPrompt(plain, 'narrativeqa', TEXT, { maxLength: 11 });
    expect(prompt.ids).toEqual([...ids.slice(0, 5), ...ids.slice(ids.length - 6)]);
    expect(prompt.truncatedTokens).toBe(ids.length - 11);
    expect(() => buildLongBenchPrompt(plain, 'narrativeqa', TEXT, { maxLength: 1 })).toThrow(/integer >= 2/);
  });

  it("wraps the message in the model's chat template, cutting only the message's tokens", () => {
    const whole = chat.applyChatTemplate([{ role: 'user', content: TEXT }], { addGenerationPrompt: true });
    expect(whole.startsWith('<|bos|><user>You are given')).toBe(true);
    const fitting = buildLongBenchPrompt(chat, 'narrativeqa', `${TEXT}  `, { maxLength: 1000 });
    expect(fitting.templated).toBe(true);
    expect(chat.decode(fitting.ids)).toBe(whole);
    const frame = chat.encode('<|bos|><user>', { addSpecialTokens: false }).length;
    const end = chat.encode('</user><bot>', { addSpecialTokens: false });
    const cut = buildLongBenchPrompt(chat, 'narrativeqa', TEXT, { maxLength: frame + end.length + 10 });
    const message = chat.encode(TEXT, { addSpecialTokens: false });
    expect(cut.ids).toHaveLength(frame + end.length + 10);
    expect(cut.ids.slice(frame, frame + 10)).toEqual([
      ...message.slice(0, 5),
      ...message.slice(message.length - 5),
    ]);
    expect(cut.ids.slice(-end.length)).toEqual(end);
    expect(cut.truncatedTokens).toBe(message.length - 10);
  });

  it('never templates the few-shot and code datasets, nor when asked not to', () => {
    for (const dataset of ['trec', 'triviaqa', 'samsum', 'lsht', 'lcc', 'repobench-p']) {
      expect(buildLongBenchPrompt(chat, dataset, TEXT, { maxLength: 1000 }).ids).toEqual(chat.encode(TEXT));
    }
    expect(
      buildLongBenchPrompt(chat, 'hotpotqa', TEXT, { maxLength: 1000, chatTemplate: false }).templated,
    ).toBe(false);
    expect(() => buildLongBenchPrompt(chat, 'hotpotqa', TEXT, { maxLength: 4 })).toThrow(
      /no room for the message/,
    );
  });
});
