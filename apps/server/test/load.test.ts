// A bounded load test on loopback: 32 concurrent streaming clients with mixed prompt lengths and
// sampling seeds, some disconnecting mid-stream, plus malformed bodies. The server must stay up,
// every stream that finishes must be complete and equal to the same request made alone, and once
// the load is gone no request runs or waits and no KV memory is held.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAYSTACK, question, startToyServer, TOY, type ToyServer } from './toy-server.js';

const CLIENTS = 32;

interface Job {
  readonly prompt: string;
  readonly seed: number;
  readonly disconnectAfter: number | undefined;
}

/** Client i: a haystack repeated 1-8 times (about 60 to 480 tokens), its own seed; every fifth disconnects. */
function job(i: number): Job {
  const key = i % 2 === 0 ? 'silver lantern' : 'frozen harbor';
  return {
    prompt: `${HAYSTACK} `.repeat(1 + (i % 8)) + question(key),
    seed: 1000 + (i % 6),
    disconnectAfter: i % 5 === 4 ? 2 : undefined,
  };
}

/** Streams one completion with fetch, reading the SSE events; returns the text, or undefined when it disconnected. */
async function streamCompletion(
  url: string,
  j: Job,
): Promise<{ text: string; done: boolean; finish: string | null } | undefined> {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: j.prompt, max_tokens: 24, temperature: 0.8, seed: j.seed, stream: true }),
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let text = '';
  let events = 0;
  let finish: string | null = null;
  let done = false;
  for (;;) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffer += decoder.decode(value, { stream: true });
    let split = buffer.indexOf('\n\n');
    while (split >= 0) {
      const event = buffer.slice(0, split);
      buffer = buffer.slice(split + 2);
      split = buffer.indexOf('\n\n');
      expect(event.startsWith('data: ')).toBe(true);
      const data = event.slice(6);
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(data) as {
        choices: { text: string; finish_reason: string | null }[];
        error?: unknown;
      };
      expect(chunk.error).toBeUndefined();
      text += chunk.choices[0]!.text;
      finish = chunk.choices[0]!.finish_reason ?? finish;
      if (++events === j.disconnectAfter) {
        controller.abort();
        await reader.cancel().catch(() => undefined);
        return undefined;
      }
    }
  }
  return { text, done, finish };
}

describe('32 concurrent streaming clients', () => {
  let toy: ToyServer;
  beforeAll(async () => {
    toy = await startToyServer(TOY, { maxSequences: 4 }, { maxQueue: 64 });
  });
  afterAll(() => toy?.close());

  it('stay complete and equal to single-client runs; disconnects and bad bodies free everything', async () => {
    const jobs = Array.from({ length: CLIENTS }, (_, i) => job(i));
    // Each distinct request alone first: the reference text.
    const alone = new Map<string, string>();
    for (const j of jobs) {
      const key = `${j.seed}|${j.prompt}`;
      if (alone.has(key)) continue;
      const single = await streamCompletion(toy.url, { ...j, disconnectAfter: undefined });
      alone.set(key, single!.text);
    }
    const malformed = ['{"prompt": "x", "max_tokens": "many"}', '{"prompt":', '{"stream": true}', 'null'].map(
      async (body) => {
        const response = await fetch(`${toy.url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        return response.status;
      },
    );
    const started = performance.now();
    const results = await Promise.all(jobs.map((j) => streamCompletion(toy.url, j)));
    expect(await Promise.all(malformed)).toEqual([400, 400, 400, 400]);
    const seconds = (performance.now() - started) / 1000;
    let finished = 0;
    results.forEach((result, i) => {
      const j = jobs[i]!;
      if (j.disconnectAfter !== undefined) {
        expect(result).toBeUndefined();
        return;
      }
      finished++;
      expect(result!.done, `client ${i} got [DONE]`).toBe(true);
      expect(result!.finish, `client ${i}`).toMatch(/^(stop|length)$/);
      expect(result!.text, `client ${i}`).toBe(alone.get(`${j.seed}|${j.prompt}`));
    });
    expect(finished).toBe(jobs.filter((j) => j.disconnectAfter === undefined).length);
    // The server is up and idle, with no KV memory held or reserved.
    const health = await fetch(`${toy.url}/health`);
    expect(await health.json()).toMatchObject({ status: 'ok', running: 0, queued: 0 });
    const metrics = await (await fetch(`${toy.url}/metrics`)).text();
    for (const line of [
      'duo_running_requests 0',
      'duo_queue_depth 0',
      'duo_kv_bytes_reserved 0',
      'duo_kv_bytes_used{head_class="retrieval"} 0',
      'duo_kv_bytes_used{head_class="streaming"} 0',
    ]) {
      expect(metrics).toContain(line);
    }
    // Concurrent streams' decode steps shared batched passes.
    expect(metrics).toMatch(/duo_decode_batches_total [1-9]/);
    expect(toy.model.memory().kvBytesUsed).toBe(0);
    console.log(`${CLIENTS} streams (${finished} to the end) in ${seconds.toFixed(1)} s`);
  });
});
