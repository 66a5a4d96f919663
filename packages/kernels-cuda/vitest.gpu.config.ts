import { defineConfig } from 'vitest/config';

// GPU tests: need a CUDA GPU and a built addon; one worker so tests never compete for the device.
export default defineConfig({
  test: {
    include: ['src/**/*.gpu.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    fileParallelism: false,
    testTimeout: 120_000,
  },
});
