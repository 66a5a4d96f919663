// The only module that loads duo_kernels.node. Loading never throws: a missing build, a failed
// dlopen or a stale build all become `{ available: false, reason }` naming the cause.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon ABI this TypeScript expects; native/addon.cc's kAbiVersion must match. */
export const EXPECTED_ABI_VERSION = 1;

/** One CUDA device as the addon reports it. */
export interface NativeDeviceRecord {
  readonly index: number;
  readonly name: string;
  readonly totalMemoryBytes: number;
  /** `major.minor`, e.g. `9.0` for Hopper. */
  readonly computeCapability: string;
  readonly multiprocessors: number;
}

/** What `deviceInfo()` resolves to. Versions are CUDA's integers (13000 = 13.0); driverVersion 0 = no driver. */
export interface NativeDeviceInfo {
  readonly deviceCount: number;
  readonly driverVersion: number;
  readonly runtimeVersion: number;
  readonly devices: readonly NativeDeviceRecord[];
}

/**
 * The exports of duo_kernels.node. Every function returns a Promise (the work runs on the libuv
 * thread pool); a failing CUDA call rejects with an Error carrying `cudaError` and `cudaErrorCode`.
 */
export interface NativeBinding {
  readonly abiVersion: number;
  /** CUDART_VERSION the addon was compiled against (13000 = 13.0). */
  readonly cudaRuntimeVersion: number;
  deviceInfo(): Promise<NativeDeviceInfo>;
  /** input: [rows, cols] bf16 bits; weight: [cols] bf16 bits; resolves to [rows, cols] bf16 bits. */
  rmsNorm(
    input: Uint16Array,
    weight: Uint16Array,
    rows: number,
    cols: number,
    eps: number,
  ): Promise<Uint16Array>;
  /** input: [rows, cols] f32; weight: [cols] f32; resolves to [rows, cols] f32. */
  rmsNormF32(
    input: Float32Array,
    weight: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): Promise<Float32Array>;
}

/** The outcome of loading the addon. `path` is where it was looked for. */
export type BindingLoad =
  | { readonly available: true; readonly binding: NativeBinding; readonly path: string }
  | { readonly available: false; readonly reason: string; readonly path: string };

/** Where build:native puts the addon (src/ and dist/ are both one level below the package root). */
export function defaultAddonPath(): string {
  return fileURLToPath(new URL('../build/Release/duo_kernels.node', import.meta.url));
}

const BUILD_COMMAND = 'npx -y pnpm@10.34.9 --filter @duo-attn/kernels-cuda build:native';

/** Why build:native built nothing, from the status file it leaves in build/ (undefined if none). */
function recordedSkipReason(addonPath: string): string | undefined {
  const statusFile = join(dirname(dirname(addonPath)), 'native-build-status.json');
  try {
    const status = JSON.parse(readFileSync(statusFile, 'utf8')) as { built?: unknown; reason?: unknown };
    return status.built === false && typeof status.reason === 'string' ? status.reason : undefined;
  } catch {
    return undefined;
  }
}

function missingFunctions(value: object): string[] {
  const record = value as Record<string, unknown>;
  return ['deviceInfo', 'rmsNorm', 'rmsNormF32'].filter((name) => typeof record[name] !== 'function');
}

/** Loads the addon at `path` (uncached). Never throws. */
export function loadBindingFrom(path: string): BindingLoad {
  if (!existsSync(path)) {
    const skipped = recordedSkipReason(path);
    const reason =
      skipped !== undefined
        ? `native addon not built: ${skipped}`
        : `native addon not built: ${path} does not exist (build it with \`${BUILD_COMMAND}\`; needs nvcc and cmake)`;
    return { available: false, reason, path };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(path);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { available: false, reason: `native addon failed to load from ${path}: ${message}`, path };
  }
  if (typeof loaded !== 'object' || loaded === null) {
    return { available: false, reason: `native addon at ${path} exports no object`, path };
  }
  const abiVersion = (loaded as { abiVersion?: unknown }).abiVersion;
  if (abiVersion !== EXPECTED_ABI_VERSION) {
    return {
      available: false,
      reason: `native addon at ${path} has ABI version ${String(abiVersion)}, this package expects ${EXPECTED_ABI_VERSION}: rebuild it with \`${BUILD_COMMAND}\``,
      path,
    };
  }
  const missing = missingFunctions(loaded);
  if (missing.length > 0) {
    return { available: false, reason: `native addon at ${path} lacks ${missing.join(', ')}`, path };
  }
  return { available: true, binding: loaded as NativeBinding, path };
}

let cached: BindingLoad | undefined;

/** Loads the addon from its build location once per process and remembers the outcome. */
export function loadBinding(): BindingLoad {
  cached ??= loadBindingFrom(defaultAddonPath());
  return cached;
}
