// Load-time validation, typed errors, abort/dispose/concurrency and registration of the reference backend.
import { describe, expect, it } from 'vitest';
import { BackendRegistry } from '../backend/backend-registry.js';
import { createRandomModel } from '../model/random-model-source.js';
import { fullPolicy, policyFromMask } from '../policy/create-policy.js';
import { createReferenceBackend } from './reference-backend.js';
import { REFERENCE_BACKEND_PRIORITY, registerReferenceBackend } from './register.js';

const backend = createReferenceBackend();
const model = createRandomModel({ seed: 2 });
const V = model.config.vocabSize;

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

function thrown(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('reference backend load', () => {
  it('is always available and describes itself', async () => {
    expect(backend.name).toBe('reference');
    expect(backend.specificationVersion).toBe('v1');
    expect(await backend.isAvailable()).toEqual({ available: true });
    expect(backend.capabilities.kvCacheDtypes).toEqual(['fp32', 'int4']);
    expect(backend.capabilities.weightFormats).toEqual(['float', 'w8a8']);
  });

  it('rejects a policy of another shape, an unsupported cache dtype, bad options and bad weights', async () => {
    expect(
      (await rejection(backend.load(model, fullPolicy({ numLayers: 3, numKvHeads: 2 }), { maxTokens: 8 })))
        .code,
    ).toBe('E_POLICY');
    const bf16 = fullPolicy(model.config, { cacheDtype: 'bf16' });
    expect((await rejection(backend.load(model, bf16, { maxTokens: 8 }))).message).toMatch(/cacheDtype bf16/);
    const policy = fullPolicy(model.config);
    expect((await rejection(backend.load(model, policy, { maxTokens: 0 }))).code).toBe('E_LOAD_OPTIONS');
    expect((await rejection(backend.load(model, policy, { maxTokens: 8, maxSequences: 1.5 }))).code).toBe(
      'E_LOAD_OPTIONS',
    );
    const layers = [
      { ...model.weights.layers[0]!, vProj: new Float32Array(3) },
      ...model.weights.layers.slice(1),
    ];
    const broken = await rejection(
      backend.load({ ...model, weights: { ...model.weights, layers } }, policy, { maxTokens: 8 }),
    );
    expect(broken.code).toBe('E_WEIGHTS');
    expect(broken.message).toMatch(/layers\.0\.vProj has 3 values/);
    const windowed = { ...model, config: { ...model.config, slidingWindow: 16 } };
    expect((await rejection(backend.load(windowed, policy, { maxTokens: 32 }))).message).toMatch(
      /sliding-window/,
    );
    await (await backend.load(windowed, policy, { maxTokens: 16 })).dispose();
  });
});

describe('(f) reference executor errors', () => {
  it('rejects a call past maxTokens before changing anything', async () => {
    const policy = policyFromMask(
      [
        [1, 0],
        [0, 1],
      ],
      { sinkSize: 1, recentSize: 2 },
    );
    const executor = await backend.load(model, policy, { maxTokens: 8 });
    const tokens = [1, 2, 3, 4, 5, 6, 7, 8];
    await executor.forward(0, tokens.slice(0, 5));
    const error = await rejection(executor.forward(0, tokens.slice(5).concat([9])));
    expect(error.code).toBe('E_CAPACITY');
    expect(error.message).toMatch(/holds 5 tokens; adding 4 would exceed maxTokens 8/);
    expect(executor.length(0)).toBe(5);
    const after = await executor.forward(0, tokens.slice(5));
    const fresh = await backend.load(model, policy, { maxTokens: 8 });
    await fresh.forward(0, tokens.slice(0, 5));
    expect(Array.from(after.logits)).toEqual(Array.from((await fresh.forward(0, tokens.slice(5))).logits));
    expect((await rejection(executor.forward(0, [1]))).code).toBe('E_CAPACITY');
    expect((await rejection(executor.forward(0, new Array(9).fill(1)))).code).toBe('E_CAPACITY');
    await executor.dispose();
    await fresh.dispose();
  });

  it('names out-of-vocabulary ids and their position', async () => {
    const executor = await backend.load(model, fullPolicy(model.config), { maxTokens: 8 });
    const error = await rejection(executor.forward(0, [1, 2, V, 3]));
    expect(error.code).toBe('E_TOKEN_ID');
    expect(error.message).toBe(`token id ${V} at index 2 is outside [0, ${V})`);
    expect((await rejection(executor.forward(0, [-1]))).code).toBe('E_TOKEN_ID');
    expect((await rejection(executor.forward(0, [1.5]))).code).toBe('E_TOKEN_ID');
    expect(executor.length(0)).toBe(0);
    expect((await rejection(executor.forward(0, []))).code).toBe('E_INPUT');
    expect((await rejection(executor.forward(1, [1]))).message).toMatch(/sequence 1 is outside \[0, 1\)/);
    expect(thrown(() => executor.length(-1)).code).toBe('E_INPUT');
    await executor.dispose();
  });

  it('refuses every call after dispose', async () => {
    const executor = await backend.load(model, fullPolicy(model.config), { maxTokens: 8 });
    await executor.forward(0, [1, 2]);
    await executor.dispose();
    expect((await rejection(executor.forward(0, [1]))).code).toBe('E_DISPOSED');
    expect(thrown(() => executor.length(0)).code).toBe('E_DISPOSED');
    expect(thrown(() => executor.reset(0)).code).toBe('E_DISPOSED');
    expect(thrown(() => executor.memory()).code).toBe('E_DISPOSED');
    await executor.dispose();
  });

  it('fails a forward pass in flight when the executor is disposed', async () => {
    const executor = await backend.load(model, fullPolicy(model.config), { maxTokens: 8 });
    const pending = executor.forward(0, [1, 2, 3]);
    const disposal = executor.dispose();
    expect((await rejection(pending)).code).toBe('E_DISPOSED');
    await disposal;
  });

  it('honours AbortSignal before and between layers, leaving the sequence unchanged', async () => {
    const policy = policyFromMask(
      [
        [1, 0],
        [0, 1],
      ],
      { sinkSize: 1, recentSize: 1 },
    );
    const executor = await backend.load(model, policy, { maxTokens: 16 });
    await executor.forward(0, [1, 2, 3, 4]);
    const before = executor.memory();
    const controller = new AbortController();
    controller.abort(new Error('user stop'));
    const early = await rejection(executor.forward(0, [5, 6], { signal: controller.signal }));
    expect(early.code).toBe('E_ABORTED');
    expect((early.cause as Error).message).toBe('user stop');

    const midway = new AbortController();
    const pending = executor.forward(0, [5, 6, 7], { signal: midway.signal });
    // The pass yields before each layer; abort after it has started.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    midway.abort();
    expect((await rejection(pending)).code).toBe('E_ABORTED');
    expect(executor.length(0)).toBe(4);
    expect(executor.memory()).toEqual(before);

    const resumed = await executor.forward(0, [5, 6, 7]);
    const fresh = await backend.load(model, policy, { maxTokens: 16 });
    await fresh.forward(0, [1, 2, 3, 4]);
    expect(Array.from(resumed.logits)).toEqual(Array.from((await fresh.forward(0, [5, 6, 7])).logits));
    await executor.dispose();
    await fresh.dispose();
  });

  it('refuses to reset a sequence while a forward pass on it runs', async () => {
    const executor = await backend.load(model, fullPolicy(model.config), { maxTokens: 8, maxSequences: 2 });
    const pending = executor.forward(0, [1, 2]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(thrown(() => executor.reset(0)).code).toBe('E_BUSY');
    executor.reset(1);
    await pending;
    executor.reset(0);
    expect(executor.length(0)).toBe(0);
    await executor.dispose();
  });

  it('runs concurrent forward calls in call order', async () => {
    const executor = await backend.load(model, fullPolicy(model.config), { maxTokens: 8 });
    const [a, b] = await Promise.all([executor.forward(0, [1, 2]), executor.forward(0, [3])]);
    const fresh = await backend.load(model, fullPolicy(model.config), { maxTokens: 8 });
    const whole = await fresh.forward(0, [1, 2, 3], { allLogits: true });
    expect(Array.from(a.logits)).toEqual(Array.from(whole.logits.subarray(V, 2 * V)));
    expect(
      Math.max(...Array.from(b.logits, (value, i) => Math.abs(value - whole.logits[2 * V + i]!))),
    ).toBeLessThan(1e-5);
    await executor.dispose();
    await fresh.dispose();
  });
});

describe('registerReferenceBackend', () => {
  it('registers with a negative priority, idempotently, and is never picked silently', async () => {
    const registry = new BackendRegistry();
    const registered = registerReferenceBackend(registry);
    expect(registerReferenceBackend(registry)).toBe(registered);
    expect(registry.list()).toEqual([
      expect.objectContaining({
        name: 'reference',
        priority: REFERENCE_BACKEND_PRIORITY,
        autoSelectable: false,
      }),
    ]);
    expect(await registry.resolve('reference')).toBe(registered);
    await expect(registry.resolve()).rejects.toThrow(
      /reference: never selected automatically.*request it by name/,
    );
  });
});
