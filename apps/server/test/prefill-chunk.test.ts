// Chunked prefill in the server: a prompt longer than the chunk is prefilled in several passes and
// gives what the model gives with the same chunking; a bad chunk size is refused at creation.
import { loadLanguageModel } from '@duo-attn/llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../src/index.js';
import { HAYSTACK, question, startToyServer, TOY, type ToyServer } from './toy-server.js';

const PROMPT = HAYSTACK + question('frozen harbor');

describe('prefillChunkSize', () => {
  let toy: ToyServer;
  beforeAll(async () => {
    toy = await startToyServer(TOY, { maxSequences: 2 }, { prefillChunkSize: 8 });
  });
  afterAll(() => toy?.close());

  it('prefills a long prompt in chunks and answers as the model does with that chunking', async () => {
    expect(toy.model.encode(PROMPT).length).toBeGreaterThan(8 * 4);
    const [completion, other] = await Promise.all([
      toy.client.completions.create({ model: 'toy', prompt: PROMPT, max_tokens: 12, temperature: 0 }),
      toy.client.completions.create({ model: 'toy', prompt: PROMPT, max_tokens: 12, temperature: 0 }),
    ]);
    const expected = await toy.model.generate(PROMPT, {
      maxNewTokens: 12,
      greedy: true,
      prefillChunkSize: 8,
    });
    expect(completion.choices[0]!.text).toBe(expected.text);
    expect(other.choices[0]!.text).toBe(expected.text);
  });

  it('refuses a chunk size that is not a positive integer', async () => {
    const model = await loadLanguageModel(TOY);
    try {
      await expect(createServer({ model, logger: false, prefillChunkSize: 0 })).rejects.toThrow(
        /prefillChunkSize/,
      );
    } finally {
      await model.dispose();
    }
  });
});
