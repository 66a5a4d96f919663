import { describe, expect, it } from 'vitest';
import { Admission } from './admission.js';
import { apiKeyMatches } from './api-key.js';
import { OpenAiHttpError } from './openai-error.js';

const never = () => new AbortController().signal;

describe('Admission', () => {
  it('grants sequences and KV bytes in arrival order, refusing what never fits (413) and a full queue (429)', async () => {
    const admission = new Admission({ sequences: 2, kvBudgetBytes: 100, maxQueue: 2 });
    const a = await admission.acquire(60, never());
    const b = await admission.acquire(30, never());
    expect([admission.running, admission.reservedBytes]).toEqual([2, 90]);
    const order: string[] = [];
    const c = admission.acquire(50, never()).then((t) => {
      order.push('c');
      return t;
    });
    // d fits the bytes left after a, but waits behind c: strict arrival order.
    const d = admission.acquire(5, never()).then((t) => {
      order.push('d');
      return t;
    });
    const full = await admission.acquire(1, never()).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(OpenAiHttpError);
    expect((full as OpenAiHttpError).status).toBe(429);
    expect((full as OpenAiHttpError).headers['retry-after']).toMatch(/^\d+$/);
    const huge = await admission.acquire(101, never()).catch((e: unknown) => e);
    expect((huge as OpenAiHttpError).status).toBe(413);
    b.release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(order).toEqual([]); // c needs 50 bytes, 60 are held by a and 40 free
    a.release();
    a.release(); // idempotent
    const [tc, td] = await Promise.all([c, d]);
    expect(order).toEqual(['c', 'd']);
    expect(admission.reservedBytes).toBe(55);
    tc.release();
    td.release();
    expect([admission.running, admission.reservedBytes, admission.queued]).toEqual([0, 0, 0]);
  });

  it('a waiter that aborts leaves the queue and lets the ones behind it in', async () => {
    const admission = new Admission({ sequences: 1, kvBudgetBytes: 10, maxQueue: 4 });
    const held = await admission.acquire(5, never());
    const leaving = new AbortController();
    const first = admission.acquire(8, leaving.signal);
    const second = admission.acquire(1, never());
    expect(admission.queued).toBe(2);
    leaving.abort(new Error('client gone'));
    await expect(first).rejects.toThrow('client gone');
    expect(admission.queued).toBe(1);
    held.release();
    (await second).release();
    expect(admission.running).toBe(0);
  });
});

describe('apiKeyMatches', () => {
  it('accepts any configured key and nothing else, whatever the lengths', () => {
    expect(apiKeyMatches('sk-a', ['sk-b', 'sk-a'])).toBe(true);
    expect(apiKeyMatches('sk-a', ['sk-ab'])).toBe(false);
    expect(apiKeyMatches('', ['sk-a'])).toBe(false);
    expect(apiKeyMatches('sk-a', [])).toBe(false);
  });
});
