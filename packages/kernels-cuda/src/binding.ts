// The only module that loads duo_kernels.node. Loading never throws: a missing build, a failed
// dlopen or a stale build all become `{ available: false, reason }` naming the cause.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon ABI this TypeScript expects; native/addon.cc's kAbiVersion must match. */
export const EXPECTED_ABI_VERSION = 4;

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
  /** Device-to-device copy bandwidth (bytes read + written per second), median of 10 timed copies of `bytes`. */
  measureCopyBandwidth(
    device: number,
    bytes: number,
  ): Promise<{ bytesPerSecond: number; medianMs: number; bytes: number }>;
  /** Allocates a model's weights and caches on `options.device`; rejects naming what did not fit. */
  createModel(
    shape: NativeModelShape,
    policy: NativePolicyShape,
    options: NativeModelOptions,
  ): Promise<NativeModel>;
  /** Allocates a gate trainer's weights and every buffer of a step on `options.device`. */
  createGateTrainer(shape: NativeModelShape, options: NativeGateTrainerOptions): Promise<NativeGateTrainer>;
  /** input: [rows, cols] f32; weight: [cols] f32; resolves to [rows, cols] f32. */
  rmsNormF32(
    input: Float32Array,
    weight: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): Promise<Float32Array>;
}

/** Architecture numbers of a model as `createModel` takes them (HF config names, camelCase). */
export interface NativeModelShape {
  readonly numLayers: number;
  readonly hiddenSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
}

/** The policy as the kernels see it: retrieval KV heads per layer, a prefix after reordering. */
export interface NativePolicyShape {
  readonly retrievalKvHeads: readonly number[];
  readonly sinkSize: number;
  readonly recentSize: number;
}

export interface NativeModelOptions {
  readonly device: number;
  readonly maxTokens: number;
  readonly maxSequences: number;
}

/** Device bytes of a NativeModel by purpose. */
export interface NativeModelMemory {
  readonly weightBytes: number;
  readonly retrievalCacheBytes: number;
  readonly streamingCacheBytes: number;
  readonly scratchBytes: number;
}

/**
 * Which weight `uploadWeight` fills; values match native/host/cuda_model.h's WeightKind. Shapes are
 * bf16 row-major with heads reordered (retrieval first).
 */
export const WeightKind = {
  /** [vocab, hidden] */
  embed: 0,
  /** [hidden] */
  finalNorm: 1,
  /** [vocab, hidden]; absent when tied */
  lmHead: 2,
  /** per layer [hidden] */
  inputNorm: 3,
  /** per layer [(Hq + 2 Hkv) d, hidden]: q rows, k rows, v rows */
  qkv: 4,
  /** per layer [hidden, Hq d] */
  o: 5,
  /** per layer [hidden] */
  postNorm: 6,
  /** per layer [2 m, hidden]: gate rows, up rows */
  gateUp: 7,
  /** per layer [hidden, m] */
  down: 8,
} as const;
export type WeightKind = (typeof WeightKind)[keyof typeof WeightKind];

/**
 * How `forwardSample` selects a token (native/kernels/sampling.cuh): core's resolved sampling
 * options, the host's draw and the penalty ids. The numbers travel as fp32 from here on, so a
 * CPU sampler agrees exactly only when given the same fp32-representable values.
 */
export interface NativeSampleRequest {
  /** Argmax after the penalty; temperature, topK, topP and uniform are then ignored. */
  readonly greedy: boolean;
  /** Finite, >= 0; > 0 (also after rounding to fp32) unless greedy. */
  readonly temperature: number;
  /** Integer >= 0; 0 or >= vocab = off. */
  readonly topK: number;
  /** In (0, 1]; 1 = off. */
  readonly topP: number;
  /** Finite, > 0; 1 = off. */
  readonly repetitionPenalty: number;
  /** The host draw in [0, 1]. */
  readonly uniform: number;
  /** [n] i32 ids in [0, vocab) the penalty applies to (repeats count once); may be empty. */
  readonly previousTokens: Int32Array;
}

/** One model resident on a GPU (native/model_binding.cc). Every GPU call returns a Promise. */
export interface NativeModel {
  uploadWeight(kind: WeightKind, layer: number, data: Uint16Array): Promise<void>;
  fillRandomWeights(seed: number): Promise<void>;
  /**
   * Appends ids at positions start.. (start 0 begins the sequence afresh; otherwise it must equal the
   * native length). ids [T] i32; cos/sin [T, headDim/2] f32; resolves to [rows, vocab] f32 logits.
   */
  forward(
    sequence: number,
    start: number,
    ids: Int32Array,
    cos: Float32Array,
    sin: Float32Array,
    allLogits: boolean,
  ): Promise<Float32Array>;
  /**
   * The same forward, but the last row's token is selected on the device and only its id comes
   * back. Logits that cannot be sampled from (NaN, all -Infinity) reject with an Error carrying a
   * numeric `sampleCode` after the forward succeeded (the native sequence has advanced).
   */
  forwardSample(
    sequence: number,
    start: number,
    ids: Int32Array,
    cos: Float32Array,
    sin: Float32Array,
    request: NativeSampleRequest,
  ): Promise<number>;
  /**
   * One decode step on each of several distinct sequences in one pass: ids[i] is appended to
   * sequences[i] at position starts[i] (which must equal its native length); cos/sin [steps,
   * headDim/2] f32 are each row's angles. Resolves to [steps, vocab] f32 logits.
   */
  forwardBatch(
    sequences: Int32Array,
    starts: Int32Array,
    ids: Int32Array,
    cos: Float32Array,
    sin: Float32Array,
  ): Promise<Float32Array>;
  fillSyntheticCache(sequence: number, length: number, seed: number): Promise<void>;
  memory(): NativeModelMemory;
  /** Frees the device memory once calls in flight finish; later calls reject. Idempotent. */
  dispose(): Promise<void>;
}

/** How `createGateTrainer` sizes and masks a trainer (native/host/gate_trainer.h). */
export interface NativeGateTrainerOptions {
  readonly device: number;
  readonly maxTokens: number;
  /** 0: token-level Lambda mask; 1: blocks. */
  readonly maskKind: 0 | 1;
  readonly sinkSize: number;
  readonly recentSize: number;
  readonly blockSize: number;
  /**
   * 0: keep every layer's q|k|v and gate|up when they fit in free device memory (else recompute);
   * 1: recompute them in the backward pass (least memory); 2: keep them (fails if they do not fit).
   */
  readonly activations: 0 | 1 | 2;
}

/** One step's result: the distillation loss, d(loss)/d(gate) and where the time went. */
export interface NativeGateTrainingStep {
  readonly loss: number;
  /** [numLayers * numKvHeads] */
  readonly gradient: Float64Array;
  readonly teacherMs: number;
  readonly studentMs: number;
  readonly backwardMs: number;
}

/** Device bytes of a NativeGateTrainer by purpose. */
export interface NativeGateTrainerMemory {
  readonly weightBytes: number;
  /** The student's layer inputs and the teacher's attention outputs, for maxTokens. */
  readonly checkpointBytes: number;
  readonly scratchBytes: number;
  /** Whether q|k|v and gate|up of every layer are kept (else recomputed by the backward pass). */
  readonly storesActivations: boolean;
}

/** One gate trainer resident on a GPU (native/gate_trainer_binding.cc). */
export interface NativeGateTrainer {
  /** As NativeModel.uploadWeight, heads in original order; no lm_head. */
  uploadWeight(kind: WeightKind, layer: number, data: Uint16Array): Promise<void>;
  fillRandomWeights(seed: number): Promise<void>;
  /**
   * ids [T] i32; cos/sin [T, headDim/2] f32 (positions 0..T-1); labels [n] i32 ascending positions;
   * gates [numLayers * numKvHeads] f32.
   */
  step(
    ids: Int32Array,
    cos: Float32Array,
    sin: Float32Array,
    labels: Int32Array,
    gates: Float32Array,
  ): Promise<NativeGateTrainingStep>;
  memory(): NativeGateTrainerMemory;
  dispose(): Promise<void>;
}

/** The outcome of loading the addon. `path` is where it was looked for. */
export type BindingLoad =
  | { readonly available: true; readonly binding: NativeBinding; readonly path: string }
  | { readonly available: false; readonly reason: string; readonly path: string };

/** Environment variable that points the loader at another build of the addon. */
export const ADDON_PATH_ENV = 'DUO_KERNELS_ADDON';

/**
 * Where build:native puts the addon (src/ and dist/ are both one level below the package root),
 * unless `DUO_KERNELS_ADDON` names another file.
 */
export function defaultAddonPath(): string {
  const fromEnv = process.env[ADDON_PATH_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
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
  return ['deviceInfo', 'rmsNorm', 'rmsNormF32', 'createModel', 'measureCopyBandwidth'].filter(
    (name) => typeof record[name] !== 'function',
  );
}

/** Loads the addon at `path` (uncached). Never throws. */
export function loadBindingFrom(path: string): BindingLoad {
  if (!existsSync(path)) {
    const skipped = recordedSkipReason(path);
    const reason =
      skipped !== undefined
        ? `native addon not built: ${skipped}`
        : `native addon not built: ${path} does not exist (needs nvcc and cmake: in the repository run \`${BUILD_COMMAND}\`; installed from npm, allow its install script (npm >= 11.19: \`npm install-scripts approve @duo-attn/kernels-cuda\`) and run \`npm rebuild @duo-attn/kernels-cuda\`)`;
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
