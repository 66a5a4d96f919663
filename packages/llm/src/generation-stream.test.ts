import type { GeneratedToken, GenerateResult } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { StreamReusedError } from './errors.js';
import { GenerationStream } from './generation-stream.js';

function result(tokens: number[], finishReason: GenerateResult['finishReason']): GenerateResult {
  return {
    tokens,
    text: '',
    finishReason,
    promptTokens: 1,
    cachedPromptTokens: 0,
    truncatedTokens: 0,
    prefillMs: 0,
    decodeMs: 0,
  };
}

/** Yields ids 0..count-1 unless `stop` is aborted, like the engine does between tokens. */
function counting(count: number, fail?: Error) {
  return async function* (stop: AbortSignal): AsyncGenerator<GeneratedToken, GenerateResult, undefined> {
    const tokens: number[] = [];
    for (let id = 0; id < count; id++) {
      if (stop.aborted) return result(tokens, 'aborted');
      if (fail !== undefined && id === 1) throw fail;
      tokens.push(id);
      yield { id, text: String(id), index: id };
    }
    return result(tokens, 'length');
  };
}

describe('GenerationStream', () => {
  it('yields the tokens, then resolves the result; a second iteration is refused', async () => {
    const stream = new GenerationStream(counting(3));
    const ids: number[] = [];
    for await (const token of stream) ids.push(token.id);
    expect(ids).toEqual([0, 1, 2]);
    expect(await stream.result).toMatchObject({ tokens: [0, 1, 2], finishReason: 'length' });
    await expect(stream.collect()).rejects.toThrow(StreamReusedError);
  });

  it('breaking out of the loop stops the source and resolves what it generated', async () => {
    const stream = new GenerationStream(counting(10));
    for await (const token of stream) if (token.id === 1) break;
    expect(await stream.result).toMatchObject({ tokens: [0, 1], finishReason: 'aborted' });
  });

  it('an error reaches both the loop and the result', async () => {
    const failure = new Error('backend failed');
    const stream = new GenerationStream(counting(3, failure));
    await expect(stream.collect()).rejects.toBe(failure);
    await expect(stream.result).rejects.toBe(failure);
  });
});
