// Bundles the GPU-machine entry points (cuda-suite.ts, cuda-bench.ts, cuda-train.ts and the `duo` CLI) into single ESM files under
// .carry/device-bundle/, with `vitest` replaced by vitest-shim.ts: the GPU machine has node but no
// node_modules. Run here (after pnpm install): node tools/device/bundle/bundle.mjs
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
// esbuild is a dependency of the workspace's build tools (tsup, vitest); resolve it from there.
const require = createRequire(join(repo, 'packages', 'core', 'package.json'));
const esbuild = require(require.resolve('esbuild', { paths: [require.resolve('tsup')] }));
const outdir = join(repo, '.carry', 'device-bundle');
mkdirSync(outdir, { recursive: true });
const result = await esbuild.build({
  entryPoints: {
    'cuda-suite': join(here, 'cuda-suite.ts'),
    'cuda-bench': join(here, 'cuda-bench.ts'),
    'cuda-train': join(here, 'cuda-train.ts'),
    duo: join(repo, 'apps', 'cli', 'src', 'duo.ts'),
  },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The workspace packages from source (no build needed), vitest from the shim.
  alias: {
    vitest: join(here, 'vitest-shim.ts'),
    '@duo-attn/core/testing': join(repo, 'packages', 'core', 'src', 'testing.ts'),
    '@duo-attn/core': join(repo, 'packages', 'core', 'src', 'index.ts'),
    '@duo-attn/eval': join(repo, 'packages', 'eval', 'src', 'index.ts'),
    '@duo-attn/patterns': join(repo, 'packages', 'patterns', 'src', 'index.ts'),
    '@duo-attn/kernels-cuda': join(repo, 'packages', 'kernels-cuda', 'src', 'index.ts'),
    '@duo-attn/train': join(repo, 'packages', 'train', 'src', 'index.ts'),
  },
  external: ['onnxruntime-node'],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __duoRequire } from 'node:module'; const require = __duoRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
});
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  console.log(`${file}: ${(info.bytes / 1024).toFixed(0)} KiB`);
}
