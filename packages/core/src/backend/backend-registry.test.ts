// Backend selection: priorities, explicit failure causes, never a silent reference fallback.
import { describe, expect, it } from 'vitest';
import type { Backend } from './backend.js';
import { BackendUnavailableError } from './backend-errors.js';
import { BackendRegistry } from './backend-registry.js';

function fakeBackend(
  name: string,
  availability: () => Promise<{ available: true } | { available: false; reason: string }>,
): Backend {
  return {
    specificationVersion: 'v1',
    name,
    capabilities: { computeDtypes: ['fp32'], kvCacheDtypes: ['fp32'], training: false },
    isAvailable: availability,
    load: () => Promise.reject(new Error('not used')),
  };
}

const available = () => Promise.resolve({ available: true as const });
const unavailable = (reason: string) => () => Promise.resolve({ available: false as const, reason });

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('BackendRegistry', () => {
  it('lists by priority and resolves the best available backend', async () => {
    const registry = new BackendRegistry();
    const cpu = fakeBackend('cpu', available);
    const cuda = fakeBackend('cuda', unavailable('no CUDA driver found'));
    const reference = fakeBackend('reference', available);
    registry.register(cpu, 10);
    registry.register(reference, -100);
    registry.register(cuda, 100);
    expect(registry.list().map((entry) => [entry.name, entry.priority, entry.autoSelectable])).toEqual([
      ['cuda', 100, true],
      ['cpu', 10, true],
      ['reference', -100, false],
    ]);
    expect(await registry.resolve()).toBe(cpu);
    expect(await registry.resolve('reference')).toBe(reference);
    expect(registry.get('cuda')).toBe(cuda);
    expect(registry.get('tpu')).toBeUndefined();
  });

  it('names every cause when nothing can be picked, and never falls back to a negative priority', async () => {
    const registry = new BackendRegistry();
    registry.register(fakeBackend('cuda', unavailable('no GPU visible')), 100);
    registry.register(
      fakeBackend('cpu', () => Promise.reject(new Error('onnxruntime-node is not installed'))),
      10,
    );
    registry.register({ ...fakeBackend('old', available), specificationVersion: 'v0' as 'v1' }, 5);
    registry.register(fakeBackend('reference', available), -100);
    const error = await rejection(registry.resolve());
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(error.message).toContain('cuda: unavailable: no GPU visible');
    expect(error.message).toContain(
      'cpu: unavailable: availability check failed: onnxruntime-node is not installed',
    );
    expect(error.message).toContain('old: unavailable: implements backend contract v0, this core expects v1');
    expect(error.message).toContain(
      'reference: never selected automatically (priority -100); request it by name',
    );
    expect((error as BackendUnavailableError).causes.map((cause) => cause.name)).toEqual([
      'cuda',
      'cpu',
      'old',
      'reference',
    ]);
  });

  it('distinguishes an unknown name from an unavailable one', async () => {
    const registry = new BackendRegistry();
    expect((await rejection(registry.resolve())).message).toMatch(/no backend is registered/);
    registry.register(fakeBackend('cuda', unavailable('addon not built')), 1);
    const unknown = await rejection(registry.resolve('tpu'));
    expect(unknown.code).toBe('E_BACKEND_UNKNOWN');
    expect(unknown.message).toMatch(/no backend named "tpu".*registered: cuda/);
    const down = await rejection(registry.resolve('cuda'));
    expect(down.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(down.message).toBe('backend "cuda" is unavailable: addon not built');
  });

  it('rejects a second backend under a taken name but accepts re-registration of the same one', () => {
    const registry = new BackendRegistry();
    const cpu = fakeBackend('cpu', available);
    registry.register(cpu, 1);
    registry.register(cpu, 2);
    expect(registry.list()[0]!.priority).toBe(2);
    expect(() => registry.register(fakeBackend('cpu', available), 3)).toThrow(/already registered as "cpu"/);
    expect(() => registry.register(fakeBackend('', available), 3)).toThrow(/non-empty string name/);
    expect(() => registry.register(fakeBackend('x', available), Number.NaN)).toThrow(/priority/);
    expect(registry.unregister('cpu')).toBe(true);
    expect(registry.unregister('cpu')).toBe(false);
  });
});
