// The server through the official `openai` client on loopback: completions, chat, streaming with
// usage, stop sequences, and errors in OpenAI's shape.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWERS, chattyToy, HAYSTACK, question, startToyServer, TOY, type ToyServer } from './toy-server.js';

const KEY = 'sk-duo-test-key';
const LANTERN = HAYSTACK + question('silver lantern');
const HARBOR = HAYSTACK + question('frozen harbor');

describe('the server with the openai client', () => {
  let toy: ToyServer;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const copy = await chattyToy();
    cleanup = copy.cleanup;
    toy = await startToyServer(copy.dir, {}, { apiKeys: [KEY] });
  });
  afterAll(async () => {
    await toy?.close();
    await cleanup?.();
  });

  it('completes a prompt, stopping at the model end-of-sequence token, with usage', async () => {
    const completion = await toy.client.completions.create({
      model: 'toy',
      prompt: LANTERN,
      max_tokens: 32,
      temperature: 0,
    });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]!.text).toBe(ANSWERS['silver lantern']);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    const promptTokens = toy.model.encode(LANTERN).length;
    expect(completion.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: completion.usage!.completion_tokens,
      total_tokens: promptTokens + completion.usage!.completion_tokens,
    });
    expect(completion.usage!.completion_tokens).toBeGreaterThan(1);
  });

  it('stops at max_tokens with finish_reason length, and at a stop sequence without including it', async () => {
    const short = await toy.client.completions.create({
      model: 'toy',
      prompt: LANTERN,
      max_tokens: 2,
      temperature: 0,
    });
    expect(short.choices[0]!.finish_reason).toBe('length');
    expect(short.usage!.completion_tokens).toBe(2);
    const stopped = await toy.client.completions.create({
      model: 'toy',
      prompt: LANTERN,
      max_tokens: 32,
      temperature: 0,
      stop: ['28'],
    });
    expect(stopped.choices[0]!.text).toBe(' 451');
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
  });

  it('answers chat completions through the model chat template', async () => {
    const chat = await toy.client.chat.completions.create({
      model: 'toy',
      messages: [{ role: 'user', content: HARBOR }],
      temperature: 0,
    });
    expect(chat.object).toBe('chat.completion');
    expect(chat.choices[0]!.message).toMatchObject({ role: 'assistant', content: ANSWERS['frozen harbor'] });
    expect(chat.choices[0]!.finish_reason).toBe('stop');
  });

  it('streams chat deltas as server-sent events, then the finish reason and the usage', async () => {
    const stream = await toy.client.chat.completions.create({
      model: 'toy',
      messages: [{ role: 'user', content: [{ type: 'text', text: LANTERN }] }],
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.choices.length > 0) {
        text += chunk.choices[0]!.delta.content ?? '';
        finishes.push(chunk.choices[0]!.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(ANSWERS['silver lantern']);
    expect(finishes.at(-1)).toBe('stop');
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(chunks).toBeGreaterThan(3);
  });

  it('streams completions with the same text as the whole answer, and the same sampled tokens for a seed', async () => {
    const whole = await toy.client.completions.create({
      model: 'toy',
      prompt: HARBOR,
      max_tokens: 12,
      temperature: 0.9,
      seed: 7,
    });
    const stream = await toy.client.completions.create({
      model: 'toy',
      prompt: HARBOR,
      max_tokens: 12,
      temperature: 0.9,
      seed: 7,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(whole.choices[0]!.text);
  });

  it('lists the model, reports health and metrics', async () => {
    const models = await toy.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['toy']);
    const health = await fetch(`${toy.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      model: 'toy',
      backend: 'cpu',
      running: 0,
      queued: 0,
    });
    const metrics = await (await fetch(`${toy.url}/metrics`)).text();
    expect(metrics).toMatch(/duo_requests_total\{endpoint="\/v1\/completions",status="200"\} \d+/);
    // Streamed requests count too (the chat stream above).
    expect(metrics).toMatch(/duo_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} 2/);
    expect(metrics).toMatch(/duo_generated_tokens_total \d+/);
    expect(metrics).toMatch(/duo_kv_bytes_used\{head_class="retrieval"\} 0/);
  });

  it('refuses bad requests in the OpenAI error shape, naming the field', async () => {
    const cases: [() => Promise<unknown>, number, Record<string, unknown>][] = [
      [
        () => new OpenAI({ baseURL: `${toy.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 }).models.list(),
        401,
        { type: 'authentication_error', code: 'invalid_api_key' },
      ],
      [
        () => toy.client.completions.create({ model: 'gpt-4', prompt: 'x' }),
        404,
        { code: 'model_not_found', param: 'model' },
      ],
      [
        () => toy.client.completions.create({ model: 'toy', prompt: 'x', max_tokens: 0 }),
        400,
        { param: 'max_tokens' },
      ],
      [() => toy.client.completions.create({ model: 'toy', prompt: 'x', n: 2 }), 400, { param: 'n' }],
      [
        () => toy.client.completions.create({ model: 'toy', prompt: 'x', temperature: 3 }),
        400,
        { param: 'temperature' },
      ],
      [
        () => toy.client.completions.create({ model: 'toy', prompt: 'word '.repeat(9000), max_tokens: 8 }),
        400,
        { code: 'context_length_exceeded', param: 'prompt' },
      ],
      [
        () =>
          toy.client.chat.completions.create({
            model: 'toy',
            messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }],
          }),
        400,
        { param: 'messages[0].role' },
      ],
    ];
    for (const [call, status, error] of cases) {
      const caught = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(caught, JSON.stringify(error)).toBeInstanceOf(OpenAI.APIError);
      const apiError = caught as InstanceType<typeof OpenAI.APIError>;
      expect(apiError.status).toBe(status);
      expect(apiError.error).toMatchObject(error);
      expect(typeof (apiError.error as { message?: unknown }).message).toBe('string');
    }
  });

  it('answers malformed JSON, a non-object body and an unknown route in the same shape', async () => {
    const post = (body: string) =>
      fetch(`${toy.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body,
      });
    for (const body of ['{"prompt": ', '[1, 2]', '"text"', '{"prompt": {"a": 1}}']) {
      const response = await post(body);
      expect(response.status, body).toBe(400);
      const json = (await response.json()) as { error: { type: string; message: string } };
      expect(json.error.type, body).toBe('invalid_request_error');
    }
    const missing = await fetch(`${toy.url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { type: 'not_found_error' } });
  });

  it('queues a request that cannot run now and refuses with 429 and Retry-After when the queue is full', async () => {
    const busy = await startToyServer(TOY, { maxSequences: 1 }, { maxQueue: 0 });
    try {
      // Occupy the one sequence as a running request would.
      const ticket = await busy.server.admission.acquire(1, new AbortController().signal);
      const response = await fetch(`${busy.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: LANTERN, max_tokens: 4 }),
      });
      expect(response.status).toBe(429);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await response.json()).toMatchObject({
        error: { type: 'rate_limit_error', code: 'queue_full' },
      });
      ticket.release();
      const after = await busy.client.completions.create({
        model: 'toy',
        prompt: LANTERN,
        max_tokens: 32,
        temperature: 0,
      });
      expect(after.choices[0]!.text).toBe(ANSWERS['silver lantern']);
    } finally {
      await busy.close();
    }
  });

  it('refuses with 413 a request whose KV cache can never fit the budget, before any work', async () => {
    const small = await startToyServer(TOY, {}, { kvBudgetBytes: 1000 });
    try {
      const caught = await small.client.completions
        .create({ model: 'toy', prompt: LANTERN, max_tokens: 8 })
        .catch((e) => e);
      expect(caught).toBeInstanceOf(OpenAI.APIError);
      expect(caught.status).toBe(413);
      expect(caught.error).toMatchObject({ code: 'kv_budget_exceeded' });
      expect(small.server.admission.running).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('says a model without a chat template cannot serve chat completions', async () => {
    const plain = await startToyServer(TOY, { maxSequences: 1 });
    try {
      const caught = await plain.client.chat.completions
        .create({ model: 'toy', messages: [{ role: 'user', content: 'hi' }] })
        .catch((e) => e);
      expect(caught.status).toBe(400);
      expect(caught.error.message).toMatch(/chat template/);
      const completion = await plain.client.completions.create({
        model: 'toy',
        prompt: LANTERN,
        max_tokens: 32,
        temperature: 0,
      });
      expect(completion.choices[0]!.text).toBe(ANSWERS['silver lantern']);
    } finally {
      await plain.close();
    }
  });
});

describe('timeouts and shutdown', () => {
  it('aborts a request past the time limit with 504', async () => {
    const toy = await startToyServer(TOY, { maxSequences: 1 }, { requestTimeoutMs: 1 });
    try {
      const caught = await toy.client.completions
        .create({ model: 'toy', prompt: LANTERN, max_tokens: 32 })
        .catch((e: unknown) => e);
      expect((caught as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
      expect(toy.server.admission.running).toBe(0);
    } finally {
      await toy.close();
    }
  });

  it('finishes a running request during the grace period, then refuses new ones', async () => {
    const toy = await startToyServer(TOY, { maxSequences: 1 });
    try {
      const running = toy.client.completions.create({
        model: 'toy',
        prompt: LANTERN,
        max_tokens: 32,
        temperature: 0,
      });
      while (toy.server.admission.running === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const closing = toy.server.close(60_000);
      expect((await running).choices[0]!.text).toBe(ANSWERS['silver lantern']);
      await closing;
      await expect(fetch(`${toy.url}/health`)).rejects.toThrow();
    } finally {
      await toy.close();
    }
  });
});

describe('ignore_eos', () => {
  it('generates exactly max_tokens past the end-of-sequence token (for benchmarks)', async () => {
    const toy = await startToyServer(TOY, { maxSequences: 1 });
    try {
      const response = await fetch(`${toy.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: LANTERN, max_tokens: 20, temperature: 0, ignore_eos: true }),
      });
      const body = (await response.json()) as {
        choices: { finish_reason: string }[];
        usage: { completion_tokens: number };
      };
      expect(body.usage.completion_tokens).toBe(20);
      expect(body.choices[0]!.finish_reason).toBe('length');
    } finally {
      await toy.close();
    }
  });
});
