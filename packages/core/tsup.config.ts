import { defineConfig } from 'tsup';

export default defineConfig({
  // cpu-worker is the cpu backend's worker thread; it must sit next to the bundles (dist/cpu-worker.js),
  // where src/cpu/worker-launcher.ts looks for it with `new URL('./cpu-worker.js', import.meta.url)`.
  entry: { index: 'src/index.ts', testing: 'src/testing.ts', 'cpu-worker': 'src/cpu/cpu-worker.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
