// Compiles native/ into build/Release/duo_kernels.node through cmake-js. Without nvcc, cmake or
// cmake-js it builds nothing, says why, records the reason in build/native-build-status.json (the
// TS loader quotes it) and exits 0, so installing or testing without CUDA never fails. A compile
// error with the tools present does fail: CI must see it.
//
// `--install` is the package's npm install script: the same build, except that it never fails the
// install (a compile error is recorded and reported like a missing compiler), it builds nothing in
// the source checkout (there `build:native` does, once, through turbo), and
// DUO_KERNELS_CUDA_SKIP_BUILD=1 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const installing = process.argv.includes('--install');
const buildDir = join(packageRoot, 'build');
const statusFile = join(buildDir, 'native-build-status.json');

function writeStatus(status) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(statusFile, `${JSON.stringify(status, null, 2)}\n`);
}

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function skip(reason) {
  console.warn(`[@duo-attn/kernels-cuda] native addon not built: ${reason}`);
  console.warn('[@duo-attn/kernels-cuda] the package will report the cuda backend as unavailable.');
  writeStatus({ built: false, reason });
  process.exit(0);
}

if (installing) {
  // The published package has no src/; the repository checkout builds the addon with build:native.
  if (existsSync(join(packageRoot, 'src', 'index.ts'))) {
    console.log(
      '[@duo-attn/kernels-cuda] source checkout: install builds nothing; `pnpm --filter @duo-attn/kernels-cuda build:native` (or turbo test) builds the addon',
    );
    process.exit(0);
  }
  if (process.env.DUO_KERNELS_CUDA_SKIP_BUILD === '1')
    skip('DUO_KERNELS_CUDA_SKIP_BUILD=1 was set at install');
}

const nvcc =
  process.env.CUDACXX ??
  findOnPath('nvcc') ??
  ['/usr/local/cuda/bin/nvcc'].find((candidate) => existsSync(candidate));
if (nvcc === undefined) skip('nvcc (the CUDA compiler) was not found on PATH, in CUDACXX or /usr/local/cuda');
if (findOnPath('cmake') === undefined) skip('cmake was not found on PATH');

let cmakeJs;
try {
  cmakeJs = join(dirname(createRequire(import.meta.url).resolve('cmake-js/package.json')), 'bin', 'cmake-js');
} catch {
  skip('cmake-js is not installed next to this package');
}

rmSync(statusFile, { force: true });
const started = performance.now();
const result = spawnSync(
  process.execPath,
  [
    cmakeJs,
    'compile',
    '--config',
    'Release',
    '--directory',
    packageRoot,
    '--parallel',
    String(availableParallelism()),
    `--CDCMAKE_CUDA_COMPILER=${nvcc}`,
  ],
  { cwd: packageRoot, stdio: 'inherit' },
);
const seconds = Math.round((performance.now() - started) / 100) / 10;
if (result.status !== 0) {
  console.error(`[@duo-attn/kernels-cuda] native build failed after ${seconds} s`);
  // An install still succeeds: the cuda backend then reports the failure as its reason.
  if (installing)
    skip(`the CUDA build failed at install (cmake-js exit ${result.status}); see the install log`);
  process.exit(result.status ?? 1);
}
writeStatus({ built: true, nvcc, seconds });
console.log(`[@duo-attn/kernels-cuda] built build/Release/duo_kernels.node in ${seconds} s`);
