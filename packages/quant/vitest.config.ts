import { defineConfig } from 'vitest/config';

// Timeouts only catch hangs: a loaded 2-core CI machine may run any test or hook several times
// slower than a quiet one, and no test may depend on machine speed.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 1_800_000,
  },
});
