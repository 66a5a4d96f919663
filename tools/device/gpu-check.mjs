// Plain-node GPU check of duo_kernels.node (no vitest, no node_modules: runs on the GPU machine).
// Usage: node gpu-check.mjs <addon.node> <results.json> [casesDir]
// Checks deviceInfo, rmsNorm (bf16) and rmsNormF32 against a JS fp32 reference on several shapes,
// bad-argument handling, and writes every bf16 case to casesDir for torch_rms_norm_check.py.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const [addonPath, resultsPath, casesDir] = process.argv.slice(2);
if (addonPath === undefined || resultsPath === undefined) {
  console.error('usage: node gpu-check.mjs <addon.node> <results.json> [casesDir]');
  process.exit(2);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toBf16(value) {
  f32[0] = value;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
function fromBf16(bits) {
  u32[0] = bits << 16;
  return f32[0];
}
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

// HF LlamaRMSNorm in bf16: fp32 statistics, normalised value rounded to bf16, times weight, rounded.
function referenceBf16(x, w, rows, cols, eps) {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += fromBf16(x[r * cols + c]) ** 2;
    const inv = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(sum) / cols) + eps));
    for (let c = 0; c < cols; c++) {
      const normed = fromBf16(toBf16(Math.fround(fromBf16(x[r * cols + c]) * inv)));
      out[r * cols + c] = fromBf16(toBf16(Math.fround(fromBf16(w[c]) * normed)));
    }
  }
  return out;
}
function referenceF32(x, w, rows, cols, eps) {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(sum / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = w[c] * (x[r * cols + c] * inv);
  }
  return out;
}

const shapes = [
  [1, 64],
  [3, 100],
  [7, 4096],
  [5, 1000],
  [16, 2050],
  [2, 8191],
  [64, 5120],
  [64, 8192],
];
const results = { ok: true, node: process.version, addon: resolve(addonPath), checks: [] };
function record(check) {
  results.checks.push(check);
  if (!check.pass) results.ok = false;
  console.log(JSON.stringify(check));
}

try {
  const binding = createRequire(import.meta.url)(resolve(addonPath));
  results.abiVersion = binding.abiVersion;
  results.cudaRuntimeVersion = binding.cudaRuntimeVersion;
  const info = await binding.deviceInfo();
  results.deviceInfo = info;
  record({
    name: 'deviceInfo',
    pass: info.deviceCount >= 1 && /H100|H200/.test(info.devices[0]?.name ?? ''),
    device: info.devices[0]?.name,
  });

  if (casesDir !== undefined) mkdirSync(casesDir, { recursive: true });
  const manifest = [];
  for (const [rows, cols] of shapes) {
    const next = random(rows * 10007 + cols);
    const x = Uint16Array.from({ length: rows * cols }, () => toBf16(next() * 3));
    const w = Uint16Array.from({ length: cols }, () => toBf16(0.5 + next()));
    const eps = 1e-5;
    const started = performance.now();
    const y = await binding.rmsNorm(x, w, rows, cols, eps);
    const ms = performance.now() - started;
    const want = referenceBf16(x, w, rows, cols, eps);
    let exact = 0;
    let maxAbs = 0;
    let maxRel = 0;
    for (let i = 0; i < want.length; i++) {
      const err = Math.abs(fromBf16(y[i]) - want[i]);
      if (err === 0) exact++;
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, err / Math.max(Math.abs(want[i]), 1e-3));
    }
    const exactFraction = exact / want.length;
    record({
      name: `rmsNorm bf16 [${rows}, ${cols}]`,
      pass: maxRel <= 1e-2 && exactFraction > 0.95,
      maxAbs,
      maxRel,
      exactFraction,
      ms: Math.round(ms * 100) / 100,
    });
    if (casesDir !== undefined) {
      const stem = `case_${rows}x${cols}`;
      writeFileSync(join(casesDir, `${stem}_x.bin`), x);
      writeFileSync(join(casesDir, `${stem}_w.bin`), w);
      writeFileSync(join(casesDir, `${stem}_y.bin`), y);
      manifest.push({ stem, rows, cols, eps });
    }
  }
  if (casesDir !== undefined) writeFileSync(join(casesDir, 'manifest.json'), JSON.stringify(manifest));

  for (const [rows, cols] of shapes) {
    const next = random(rows * 31 + cols);
    const x = Float32Array.from({ length: rows * cols }, () => next() * 4);
    const w = Float32Array.from({ length: cols }, () => 0.5 + next());
    const y = await binding.rmsNormF32(x, w, rows, cols, 1e-6);
    const want = referenceF32(x, w, rows, cols, 1e-6);
    let maxRel = 0;
    for (let i = 0; i < want.length; i++) {
      maxRel = Math.max(maxRel, Math.abs(y[i] - want[i]) / Math.max(Math.abs(want[i]), 1));
    }
    record({ name: `rmsNormF32 [${rows}, ${cols}]`, pass: maxRel <= 1e-5, maxRel });
  }

  // Concurrency: several calls in flight at once on the thread pool must each get their own answer.
  const many = await Promise.all(
    [1, 2, 3, 4, 5, 6, 7, 8].map((k) =>
      binding.rmsNorm(new Uint16Array(256).fill(toBf16(k)), new Uint16Array(256).fill(toBf16(1)), 1, 256, 0),
    ),
  );
  record({ name: 'concurrent calls', pass: many.every((y) => y.every((v) => fromBf16(v) === 1)) });

  let threw = '';
  try {
    binding.rmsNorm(new Uint16Array(3), new Uint16Array(2), 2, 2, 0);
  } catch (error) {
    threw = `${error.name}: ${error.message}`;
  }
  record({ name: 'bad shape throws RangeError', pass: threw.startsWith('RangeError'), threw });
} catch (error) {
  record({
    name: 'uncaught',
    pass: false,
    error: String(error?.stack ?? error),
    cudaError: error?.cudaError,
  });
}

writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
console.log(`gpu-check: ${results.ok ? 'PASS' : 'FAIL'} (${results.checks.length} checks) -> ${resultsPath}`);
process.exit(results.ok ? 0 : 1);
