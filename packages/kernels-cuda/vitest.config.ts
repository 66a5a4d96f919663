import { defineConfig } from 'vitest/config';

// Unit tests: run everywhere (CI has nvcc but no GPU). GPU tests live in *.gpu.test.ts and run
// only through vitest.gpu.config.ts.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'src/**/*.gpu.test.ts'],
    // Timeouts only catch hangs (a loaded CI machine is slow); no test depends on machine speed.
    testTimeout: 1_800_000,
    hookTimeout: 1_800_000,
  },
});
