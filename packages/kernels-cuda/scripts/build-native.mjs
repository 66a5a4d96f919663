// Compiles native/ into build/Release/duo_kernels.node through cmake-js. Without nvcc, cmake or
// cmake-js it builds nothing, says why, records the reason in build/native-build-status.json (the
// TS loader quotes it) and exits 0, so installing or testing without CUDA never fails. A compile
// error with the tools present does fail: CI must see it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
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
  skip('cmake-js is not installed (it is a devDependency: build from the repository checkout)');
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
  process.exit(result.status ?? 1);
}
writeStatus({ built: true, nvcc, seconds });
console.log(`[@duo-attn/kernels-cuda] built build/Release/duo_kernels.node in ${seconds} s`);
