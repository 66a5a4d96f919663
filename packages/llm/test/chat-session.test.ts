// Chat sessions on the toy model with a test chat template: history, reuse of the KV cache across
// turns (and when it must be reset), streaming heads, turns dropped to fit the context.
import { ContextLengthError, type GenerateResult } from '@duo-attn/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LanguageModel, loadLanguageModel } from '../src/index.js';
import { ANSWERS, HAYSTACK, question, TOY_CHAT_TEMPLATE, TOY_PATTERN, toyVariant } from './toy-model.js';

let chatModelDir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir: chatModelDir, cleanup } = await toyVariant({ 'chat_template.jinja': TOY_CHAT_TEMPLATE }));
});
afterAll(() => cleanup());

describe('a chat session under full attention', () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await loadLanguageModel(chatModelDir, { backend: 'reference' });
  });
  afterAll(() => model.dispose());

  it('keeps the history and prefills only the new tokens of a later turn, with the same answer as a fresh prompt', async () => {
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    const first = await chat.prompt(question('silver lantern'));
    expect(first).toMatchObject({
      text: ANSWERS['silver lantern'],
      finishReason: 'stop-token',
      cachedPromptTokens: 0,
    });
    const second = await chat.prompt(question('frozen harbor'));
    expect(second.text).toBe(ANSWERS['frozen harbor']);
    // The cache held the first prompt and every reply token but the last (<|eos|>, never fed).
    expect(second.cachedPromptTokens).toBe(first.promptTokens + first.tokens.length - 1);
    expect(chat.history).toEqual([
      { role: 'user', content: question('silver lantern') },
      { role: 'assistant', content: ANSWERS['silver lantern'] },
      { role: 'user', content: question('frozen harbor') },
      { role: 'assistant', content: ANSWERS['frozen harbor'] },
    ]);
    // Full attention gives the same tokens whether the prefix is reused or prefilled again.
    const rendered = model.tokenizer!.applyChatTemplate(
      [{ role: 'system', content: HAYSTACK }, ...chat.history.slice(0, 3)],
      { addGenerationPrompt: true },
    );
    const fresh = await model.generate(model.tokenizer!.encode(rendered, { addSpecialTokens: false }));
    expect(fresh).toMatchObject({
      tokens: second.tokens,
      promptTokens: second.promptTokens,
      cachedPromptTokens: 0,
    });
  });

  it('starts over when the conversation no longer extends the cache, then reuses again', async () => {
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    await chat.prompt(question('silver lantern'));
    // An edited reply: the rendered tokens diverge inside what the cache holds.
    chat.setHistory([
      { role: 'user', content: question('silver lantern') },
      { role: 'assistant', content: ' 1111111.' },
    ]);
    const edited = await chat.prompt(question('frozen harbor'));
    expect(edited.cachedPromptTokens).toBe(0);
    const next = await chat.prompt(question('silver lantern'));
    expect(next.cachedPromptTokens).toBe(edited.promptTokens + edited.tokens.length - 1);
  });

  it('a refused turn (bad option) changes neither the history nor the cache', async () => {
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    const first = await chat.prompt(question('silver lantern'));
    await expect(chat.prompt(question('frozen harbor'), { temperature: -1 })).rejects.toThrow(/temperature/);
    expect(chat.history).toHaveLength(2);
    const next = await chat.prompt(question('frozen harbor'));
    expect(next.cachedPromptTokens).toBe(first.promptTokens + first.tokens.length - 1);
  });

  it('sessions taking turns on one model each start over after the other used the cache', async () => {
    const a = model.createChatSession({ systemPrompt: HAYSTACK });
    const b = model.createChatSession({ systemPrompt: HAYSTACK });
    await a.prompt(question('silver lantern'));
    expect((await b.prompt(question('frozen harbor'))).cachedPromptTokens).toBe(0);
    const again = await a.prompt(question('frozen harbor'));
    expect(again).toMatchObject({ text: ANSWERS['frozen harbor'], cachedPromptTokens: 0 });
    // A plain generation in between also takes the cache away.
    await model.generate(HAYSTACK + question('silver lantern'));
    expect((await a.prompt(question('silver lantern'))).cachedPromptTokens).toBe(0);
  });

  it('queues a turn sent while another is streaming; it sees the one before', async () => {
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    // A turn takes its place in the queue when its stream starts to be iterated.
    const stream = chat.stream(question('silver lantern'))[Symbol.asyncIterator]();
    const head = await stream.next();
    const second = chat.prompt(question('frozen harbor'));
    let text = head.done ? '' : head.value.text;
    for (let step = await stream.next(); !step.done; step = await stream.next()) text += step.value.text;
    expect(text).toBe(ANSWERS['silver lantern']);
    expect((await second).cachedPromptTokens).toBeGreaterThan(0);
    expect(chat.history.map((message) => message.content)).toEqual([
      question('silver lantern'),
      ANSWERS['silver lantern'],
      question('frozen harbor'),
      ANSWERS['frozen harbor'],
    ]);
  });

  it('keeps an aborted reply in the history and the cache for the next turn', async () => {
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    const controller = new AbortController();
    const stream = chat.stream(question('silver lantern'), { signal: controller.signal });
    for await (const token of stream) if (token.index === 2) controller.abort();
    const aborted = await stream.result;
    expect(aborted).toMatchObject({ finishReason: 'aborted', text: ANSWERS['silver lantern'].slice(0, 3) });
    expect(chat.history[1]).toEqual({ role: 'assistant', content: aborted.text });
    const next = await chat.prompt(question('frozen harbor'));
    expect(next.cachedPromptTokens).toBe(aborted.promptTokens + aborted.tokens.length - 1);
  });
});

describe('a chat session under DuoAttention', () => {
  it('reuses the cache across turns, streaming heads keeping only sinks and recent tokens, and still retrieves', async () => {
    await using model = await loadLanguageModel(chatModelDir, { pattern: TOY_PATTERN, sparsity: 0.5 });
    expect(model.policy.kind).toBe('duo');
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    const first = await chat.prompt(question('frozen harbor'));
    const second = await chat.prompt(question('silver lantern'));
    expect([first.text, second.text]).toEqual([ANSWERS['frozen harbor'], ANSWERS['silver lantern']]);
    expect(second.cachedPromptTokens).toBe(first.promptTokens + first.tokens.length - 1);
    // Reused: the new turn is a later prefill chunk, where streaming heads see only sinks and
    // recent tokens, as they would in one long generation.
    expect(second.cachedPromptTokens).toBeGreaterThan(model.policy.sinkSize + model.policy.recentSize);
  });
});

describe('a chat longer than the context', () => {
  it('leaves the oldest turns out of the prompt (the history keeps them), and refuses one message that cannot fit', async () => {
    await using model = await loadLanguageModel(chatModelDir, { backend: 'reference', contextLength: 160 });
    const chat = model.createChatSession({ systemPrompt: HAYSTACK });
    const options = { maxNewTokens: 12 };
    const results: GenerateResult[] = [];
    for (let turn = 0; turn < 4; turn++) {
      results.push(await chat.prompt(question(turn % 2 === 0 ? 'silver lantern' : 'frozen harbor'), options));
    }
    expect(chat.history).toHaveLength(8);
    for (const result of results) expect(result.promptTokens + 12).toBeLessThanOrEqual(160);
    expect(results.at(-1)!.text).toBe(ANSWERS['frozen harbor']);
    // Dropping turns changed the prompt's start: the cache could not be reused for that turn.
    expect(results.some((result) => result.cachedPromptTokens === 0 && result !== results[0])).toBe(true);
    await expect(chat.prompt('word '.repeat(400), options)).rejects.toThrow(ContextLengthError);
  });
});
