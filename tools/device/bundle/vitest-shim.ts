// The slice of vitest's API that @duo-attn/core/testing's conformance suite uses, for running that
// suite on the GPU machine, which has node but no node_modules. bundle.mjs aliases `vitest` to this
// file. Tests run sequentially in declaration order; results are collected for run-suite.ts.

type TestBody = (context: { skip: () => never }) => unknown;

interface TestCase {
  readonly name: string;
  readonly body: TestBody;
  readonly skipped: boolean;
}

/** Every test declared so far, with its describe path. */
export const declaredTests: TestCase[] = [];
const path: string[] = [];
let skipDepth = 0;

class SkipSignal extends Error {}

type DescribeFn = ((name: string, body: () => void) => void) & {
  skipIf: (condition: boolean) => (name: string, body: () => void) => void;
};

function describeImpl(name: string, body: () => void, skip = false): void {
  path.push(name);
  if (skip) skipDepth++;
  try {
    body();
  } finally {
    if (skip) skipDepth--;
    path.pop();
  }
}

export const describe: DescribeFn = Object.assign(
  (name: string, body: () => void) => describeImpl(name, body),
  {
    skipIf: (condition: boolean) => (name: string, body: () => void) => describeImpl(name, body, condition),
  },
);

export function it(name: string, body: TestBody, _timeout?: number): void {
  declaredTests.push({ name: [...path, name].join(' > '), body, skipped: skipDepth > 0 });
}

function fail(message: string | undefined, detail: string): never {
  throw new Error(message === undefined ? detail : `${message}: ${detail}`);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function expect(actual: unknown, message?: string) {
  return {
    toBe(expected: unknown) {
      if (!Object.is(actual, expected)) fail(message, `expected ${String(actual)} to be ${String(expected)}`);
    },
    toEqual(expected: unknown) {
      if (!deepEqual(actual, expected)) {
        fail(message, `expected ${JSON.stringify(actual)} to equal ${JSON.stringify(expected)}`);
      }
    },
    toBeLessThanOrEqual(bound: number) {
      if (!(typeof actual === 'number' && actual <= bound))
        fail(message, `expected ${String(actual)} <= ${bound}`);
    },
    rejects: {
      async toThrow(pattern: RegExp) {
        try {
          await (actual as Promise<unknown>);
        } catch (error) {
          const text = error instanceof Error ? error.message : String(error);
          if (!pattern.test(text)) fail(message, `rejected with "${text}", which does not match ${pattern}`);
          return;
        }
        fail(message, `expected a rejection matching ${pattern}, but it resolved`);
      },
    },
  };
}

/** Runs every declared test once, in order; returns one record per test. */
export async function runDeclaredTests(): Promise<
  { name: string; status: 'passed' | 'failed' | 'skipped'; ms: number; error?: string }[]
> {
  const results = [];
  for (const test of declaredTests) {
    if (test.skipped) {
      results.push({ name: test.name, status: 'skipped' as const, ms: 0 });
      continue;
    }
    const start = performance.now();
    try {
      await test.body({
        skip: () => {
          throw new SkipSignal();
        },
      });
      results.push({ name: test.name, status: 'passed' as const, ms: performance.now() - start });
    } catch (error) {
      const ms = performance.now() - start;
      if (error instanceof SkipSignal) results.push({ name: test.name, status: 'skipped' as const, ms });
      else {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        results.push({ name: test.name, status: 'failed' as const, ms, error: text });
      }
    }
  }
  return results;
}
