// The entry point on the bundled toy model: default backend, end-of-sequence handling, the model's
// decoding defaults, streaming, aborts, disposal, policies from a pattern, ids-only models.
import { DuoError, TokenizerError } from '@duo-attn/core';
import { PatternOptionError } from '@duo-attn/patterns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LanguageModel, LlmOptionError, loadLanguageModel, ModelDisposedError } from '../src/index.js';
import { ANSWERS, HAYSTACK, question, TOY, TOY_PATTERN, toyVariant } from './toy-model.js';

const LANTERN = HAYSTACK + question('silver lantern');
const HARBOR = HAYSTACK + question('frozen harbor');

describe('a model on the default backend', () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await loadLanguageModel(TOY);
  });
  afterAll(() => model.dispose());

  it('runs on cpu (onnxruntime-node is a dependency) and stops at the end-of-sequence token by itself', async () => {
    expect(model.backendName).toBe('cpu');
    expect(model.endOfSequenceIds).toEqual([1]);
    expect(model.defaults).toMatchObject({ greedy: true, maxNewTokens: 128 });
    const result = await model.generate(LANTERN);
    expect(result.text).toBe(ANSWERS['silver lantern']);
    expect(result.finishReason).toBe('stop-token');
    expect(result.tokens.at(-1)).toBe(1);
    expect(result.promptTokens).toBe(model.encode(LANTERN).length);
  });

  it('streams the tokens generate returns; breaking out of the loop ends the stream as aborted', async () => {
    const whole = await model.generate(HARBOR);
    const stream = model.stream(HARBOR);
    const pieces: string[] = [];
    for await (const token of stream) pieces.push(token.text);
    expect(pieces.join('')).toBe(whole.text);
    expect((await stream.result).tokens).toEqual(whole.tokens);

    const partial = model.stream(HARBOR);
    let seen = 0;
    for await (const _ of partial) if (++seen === 3) break;
    expect(await partial.result).toMatchObject({ finishReason: 'aborted', tokens: whole.tokens.slice(0, 3) });
    // The model is free again and generates as before.
    expect((await model.generate(HARBOR)).tokens).toEqual(whole.tokens);
  });

  it('an AbortSignal stops a generation between tokens; the model stays usable', async () => {
    const controller = new AbortController();
    const stream = model.stream(LANTERN, { signal: controller.signal });
    const ids: number[] = [];
    for await (const token of stream) {
      ids.push(token.id);
      if (ids.length === 2) controller.abort();
    }
    expect(await stream.result).toMatchObject({ finishReason: 'aborted', tokens: ids });
    expect(ids).toHaveLength(2);
    expect((await model.generate(LANTERN)).text).toBe(ANSWERS['silver lantern']);
  });

  it('takes token ids as the prompt, and options over the defaults', async () => {
    const ids = model.encode(LANTERN);
    const result = await model.generate(ids, { maxNewTokens: 3 });
    expect(result).toMatchObject({ finishReason: 'length', text: ' 45' });
    const ignored = await model.generate(ids, { ignoreEos: true, maxNewTokens: 12 });
    expect(ignored.tokens).toHaveLength(12);
    const stopped = await model.generate(ids, { stopStrings: ['12'] });
    expect(stopped).toMatchObject({ finishReason: 'stop-string', text: ' 45' });
  });

  it('runs generations one at a time when they are started together', async () => {
    const [a, b] = await Promise.all([model.generate(LANTERN), model.generate(HARBOR)]);
    expect([a.text, b.text]).toEqual([ANSWERS['silver lantern'], ANSWERS['frozen harbor']]);
  });
});

describe('loading options', () => {
  it('runs DuoAttention from a pattern directory and a sparsity', async () => {
    await using model = await loadLanguageModel(TOY, { pattern: TOY_PATTERN, sparsity: 0.75 });
    expect(model.policy.kind).toBe('duo');
    expect(model.policyDescription).toBe(
      'DuoAttention: 6 of 24 KV heads retrieval (sparsity 0.75), sink 16, recent 64',
    );
    expect((await model.generate(HARBOR)).text).toBe(ANSWERS['frozen harbor']);
  });

  it('refuses contradicting or out-of-range policy options with typed errors', async () => {
    await expect(loadLanguageModel(TOY, { sparsity: 0.5 })).rejects.toThrow(LlmOptionError);
    await expect(loadLanguageModel(TOY, { pattern: TOY_PATTERN, sparsity: 2 })).rejects.toThrow(
      PatternOptionError,
    );
    await expect(loadLanguageModel(TOY, { pattern: TOY_PATTERN, policy: 'full' })).rejects.toThrow(
      /pattern or policy/,
    );
    await expect(loadLanguageModel(TOY, { backend: 'nope' })).rejects.toThrow(/no backend named "nope"/);
    await expect(loadLanguageModel(TOY, { maxTokens: 0 })).rejects.toThrow(/maxTokens must be/);
    const aborted = AbortSignal.abort(new Error('stop loading'));
    await expect(loadLanguageModel(TOY, { signal: aborted })).rejects.toThrow('stop loading');
  });

  it('await using disposes the model; a disposed model refuses work', async () => {
    let outside: LanguageModel | undefined;
    {
      await using model = await loadLanguageModel(TOY, { backend: 'reference' });
      outside = model;
      expect(model.disposed).toBe(false);
    }
    expect(outside.disposed).toBe(true);
    await expect(outside.generate(LANTERN)).rejects.toThrow(ModelDisposedError);
    expect(() => outside.createChatSession()).toThrow(ModelDisposedError);
  });

  it('dispose stops a running generation, which ends as aborted', async () => {
    const model = await loadLanguageModel(TOY, { backend: 'reference' });
    const stream = model.stream(LANTERN, { ignoreEos: true, maxNewTokens: 50 });
    let disposed: Promise<void> | undefined;
    for await (const _ of stream) disposed ??= model.dispose();
    await disposed;
    expect((await stream.result).finishReason).toBe('aborted');
    expect((await stream.result).tokens.length).toBeLessThan(50);
  });
});

describe("the model directory's generation_config.json and tokenizer", () => {
  it("stops at generation_config's eos_token_id and samples with its settings", async () => {
    const variant = await toyVariant({
      'generation_config.json': JSON.stringify({
        eos_token_id: [15],
        do_sample: true,
        temperature: 0.5,
        top_k: 3,
        max_new_tokens: 20,
      }),
    });
    try {
      await using model = await loadLanguageModel(variant.dir, { backend: 'reference' });
      expect(model.defaults).toEqual({
        greedy: false,
        temperature: 0.5,
        topK: 3,
        topP: 1,
        repetitionPenalty: 1,
        maxNewTokens: 20,
      });
      // '.' (id 15) now ends the answer; it is reported but not decoded.
      expect(model.endOfSequenceIds).toEqual([15, 1]);
      const sampled = await model.generate(LANTERN, { seed: 7 });
      expect(sampled.finishReason).toBe('stop-token');
      expect(sampled.tokens.at(-1)).toBe(15);
      expect(sampled.text).toBe(ANSWERS['silver lantern'].slice(0, -1));
      expect((await model.generate(LANTERN, { seed: 7 })).tokens).toEqual(sampled.tokens);
      const budget = await model.generate(LANTERN, { ignoreEos: true, greedy: true });
      expect(budget.tokens).toHaveLength(20);
    } finally {
      await variant.cleanup();
    }
  });

  it('without tokenizer.json takes token ids and names the missing file for text', async () => {
    const variant = await toyVariant({ 'tokenizer.json': null });
    try {
      await using model = await loadLanguageModel(variant.dir, { backend: 'reference' });
      expect(model.tokenizer).toBeUndefined();
      const result = await model.generate([0, 5, 6, 7], { maxNewTokens: 2 });
      expect(result.tokens).toHaveLength(2);
      expect(result.text).toBe('');
      await expect(model.generate('text')).rejects.toThrow(/tokenizer\.json not found/);
      expect(() => model.createChatSession()).toThrow(TokenizerError);
    } finally {
      await variant.cleanup();
    }
  });

  it('a model without a chat template refuses chat sessions clearly, and plain generation works', async () => {
    await using model = await loadLanguageModel(TOY, { backend: 'reference' });
    let caught: unknown;
    try {
      model.createChatSession();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TokenizerError);
    expect((caught as TokenizerError).reason).toBe('no-chat-template');
    expect(DuoError.isInstance(caught)).toBe(true);
    expect((caught as Error).message).toMatch(
      /cannot be used for chat \(sessions or messages\): .*no chat template/,
    );
    expect((caught as Error).message).toMatch(/model\.generate, model\.stream\) still works/);
    expect((await model.generate(LANTERN)).text).toBe(ANSWERS['silver lantern']);
  });
});

describe('several sequences (maxSequences)', () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await loadLanguageModel(TOY, { maxSequences: 3 });
  });
  afterAll(() => model.dispose());

  it('runs generations at once, each giving what it gives alone, and frees every cache after', async () => {
    const alone = [await model.generate(LANTERN), await model.generate(HARBOR)];
    expect(model.memory().kvBytesUsed).toBe(0);
    const prompts = [LANTERN, HARBOR, LANTERN, HARBOR, LANTERN];
    let peak = 0;
    const streams = prompts.map(async (prompt) => {
      const stream = model.stream(prompt);
      for await (const _ of stream) peak = Math.max(peak, model.load().running);
      return stream.result;
    });
    // Five generations on three sequences: three run, two wait for a free one.
    const results = await Promise.all(streams);
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(3);
    for (const [i, result] of results.entries()) expect(result.tokens).toEqual(alone[i % 2]!.tokens);
    expect(model.load()).toEqual({ running: 0, waiting: 0 });
    expect(model.memory().kvBytesUsed).toBe(0);
    // Concurrent decode steps shared batched passes (continuous batching on the cpu backend).
    const batching = model.decodeBatching();
    expect(batching?.batches).toBeGreaterThan(0);
    expect(batching!.batchedSteps).toBeGreaterThanOrEqual(2 * batching!.batches);
  });

  it('runs each decode step alone with batchDecode: false, with the same tokens', async () => {
    await using unbatched = await loadLanguageModel(TOY, { maxSequences: 2, batchDecode: false });
    expect(unbatched.decodeBatching()).toBeUndefined();
    const results = await Promise.all([unbatched.generate(LANTERN), unbatched.generate(HARBOR)]);
    const batched = await Promise.all([model.generate(LANTERN), model.generate(HARBOR)]);
    expect(results.map((result) => result.tokens)).toEqual(batched.map((result) => result.tokens));
  });

  it('refuses a non-integer maxSequences', async () => {
    await expect(loadLanguageModel(TOY, { maxSequences: 0 })).rejects.toThrow(LlmOptionError);
  });
});
