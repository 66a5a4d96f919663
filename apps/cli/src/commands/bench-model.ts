// What the `duo bench` commands measure: a model directory or a named shape with random weights, its
// config, the gates DuoAttention policies are cut from, host weights built only when a backend needs
// them (the cuda backend makes a shape's weights on the GPU: an 8B shape would be 32 GB of float32
// here), and executors loaded the cheapest way the backend offers.
import {
  type Backend,
  createCpuBackend,
  createRandomModel,
  type Executor,
  fullPolicy,
  type KvCachePolicy,
  loadModel,
  type ModelConfig,
  type ModelSource,
  policyFromMask,
  quantizeLinears,
  randomModelConfig,
  resolveBackend,
  streamingPolicy,
  type WeightFormat,
} from '@duo-attn/core';
import { isModelShapeName, MODEL_SHAPES } from '@duo-attn/eval';
import { generatePattern, readPattern, sparsify } from '@duo-attn/patterns';
import { hasQuantizationConfig, loadQuantizedModel } from '@duo-attn/quant';
import { numberOption, type ParsedArgs, stringOption, UsageError } from '../cli-args.js';

/** A model to benchmark. */
export interface BenchModel {
  /** The directory, or `random <shape>`. */
  readonly label: string;
  readonly config: ModelConfig;
  /** A directory written by `duo quantize`: it runs as W8A8 only. */
  readonly quantizedCheckpoint: boolean;
  /** Per KV head of each layer, the gate values DuoAttention policies are sparsified from. */
  readonly gates: readonly (readonly number[])[];
  /** Whether weights are read from a directory (else random, `seed`). */
  readonly fromDirectory: boolean;
  readonly seed: number;
  /** The model's weights on the host in `format` (built on first use, then kept). */
  hostWeights(format: WeightFormat): ModelSource;
}

/** Options of {@link openBenchModel}: exactly one of `modelDir` and `shape`. */
export interface BenchModelOptions {
  readonly modelDir?: string;
  readonly shape?: string;
  readonly seed: number;
  /** A pattern directory to take the gates from (else a synthetic pattern of `seed`). */
  readonly patternDir?: string;
}

/** Opens `--model DIR` (reading its weights) or `--shape NAME` (weights made only when asked for). */
export async function openBenchModel(options: BenchModelOptions): Promise<BenchModel> {
  const { modelDir, shape, seed } = options;
  if ((modelDir === undefined) === (shape === undefined))
    throw new UsageError('give exactly one of --model or --shape');
  if (shape !== undefined && !isModelShapeName(shape)) {
    throw new UsageError(`unknown --shape "${shape}" (known: ${Object.keys(MODEL_SHAPES).join(', ')})`);
  }
  const shapeOptions =
    shape === undefined
      ? undefined
      : { ...MODEL_SHAPES[shape as keyof typeof MODEL_SHAPES], seed, maxPositionEmbeddings: 1 << 20 };
  const quantizedCheckpoint = modelDir !== undefined && (await hasQuantizationConfig(modelDir));
  const loaded: Partial<Record<WeightFormat, ModelSource>> = {};
  if (modelDir !== undefined) {
    if (quantizedCheckpoint) loaded.w8a8 = await loadQuantizedModel(modelDir);
    else loaded.float = await loadModel(modelDir);
  }
  const config = (loaded.w8a8 ?? loaded.float)?.config ?? randomModelConfig(shapeOptions);
  const hostWeights = (format: WeightFormat): ModelSource => {
    const cached = loaded[format];
    if (cached !== undefined) return cached;
    if (format === 'float' && quantizedCheckpoint) {
      throw new UsageError(
        `${modelDir} is a quantized (W8A8) checkpoint; --weights float needs a float model`,
      );
    }
    loaded.float ??= createRandomModel(shapeOptions);
    if (format === 'w8a8') loaded.w8a8 = quantizeLinears(loaded.float);
    return loaded[format]!;
  };
  const gates =
    options.patternDir !== undefined
      ? (
          await readPattern(options.patternDir, {
            numLayers: config.numLayers,
            numKvHeads: config.numKvHeads,
          })
        ).alpha
      : generatePattern({ numLayers: config.numLayers, numKvHeads: config.numKvHeads, seed }).alpha;
  return {
    label: modelDir ?? `random ${shape}`,
    config,
    quantizedCheckpoint,
    gates,
    fromDirectory: modelDir !== undefined,
    seed,
    hostWeights,
  };
}

/**
 * Loads `model` in `format` under `policy` for `maxTokens` tokens: a random shape in float weights on
 * a backend that makes weights on its device (cuda's `loadSynthetic`) is built there; everything else
 * goes through the host weights and `backend.load`.
 */
export function loadBenchExecutor(
  backend: Backend,
  model: BenchModel,
  format: WeightFormat,
  policy: KvCachePolicy,
  maxTokens: number,
  maxSequences = 1,
): Promise<Executor> {
  if (!model.fromDirectory && format === 'float' && isSyntheticLoader(backend)) {
    return backend.loadSynthetic(model.config, policy, { maxTokens, maxSequences }, model.seed);
  }
  return backend.load(model.hostWeights(format), policy, { maxTokens, maxSequences });
}

/** Backends that can build a random-weight model on their own device (the cuda backend). */
interface SyntheticLoader {
  loadSynthetic(
    config: ModelConfig,
    policy: KvCachePolicy,
    options: { maxTokens: number; maxSequences?: number },
    seed?: number,
  ): Promise<Executor>;
}

function isSyntheticLoader(backend: object): backend is SyntheticLoader {
  return typeof (backend as Partial<SyntheticLoader>).loadSynthetic === 'function';
}

/**
 * The policy a `--policy` value names: `full`, `streaming` (sink + recent), or `duo:R`, a fraction R
 * of KV heads kept as retrieval heads, cut from `gates`.
 */
export function benchPolicy(
  name: string,
  config: { numLayers: number; numKvHeads: number },
  gates: readonly (readonly number[])[],
  sinkSize: number,
  recentSize: number,
): KvCachePolicy {
  if (name === 'full') return fullPolicy(config);
  if (name === 'streaming') return streamingPolicy(config, { sinkSize, recentSize });
  const match = /^duo:(0(?:\.\d+)?|1(?:\.0+)?)$/.exec(name);
  if (match === null)
    throw new UsageError(`--policy must be full, streaming or duo:R with R in [0, 1], got "${name}"`);
  const ratio = Number(match[1]);
  return policyFromMask(sparsify(gates, { sparsity: 1 - ratio }).mask, { sinkSize, recentSize });
}

/** The options every `duo bench` mode reads the same way. */
export interface BenchCommonOptions {
  readonly modelDir?: string;
  readonly shape?: string;
  readonly seed: number;
  readonly sinkSize: number;
  readonly recentSize: number;
  /** onnxruntime threads (cpu backend); undefined: all cores. */
  readonly threads?: number;
  readonly patternDir?: string;
  readonly backendName?: string;
}

/** Reads --model/--shape (exactly one), --seed, --sink, --recent, --threads, --pattern, --backend. */
export function benchCommonOptions(args: ParsedArgs, usage: string): BenchCommonOptions {
  const modelDir = stringOption(args, 'model');
  const shape = stringOption(args, 'shape');
  if ((modelDir === undefined) === (shape === undefined)) {
    throw new UsageError('give exactly one of --model or --shape', usage);
  }
  if (shape !== undefined && !isModelShapeName(shape)) {
    throw new UsageError(`unknown --shape "${shape}" (known: ${Object.keys(MODEL_SHAPES).join(', ')})`);
  }
  const threads = numberOption(args, 'threads', { integer: true, min: 1 });
  const patternDir = stringOption(args, 'pattern');
  const backendName = stringOption(args, 'backend');
  return {
    ...(modelDir !== undefined ? { modelDir } : {}),
    ...(shape !== undefined ? { shape } : {}),
    seed: numberOption(args, 'seed', { integer: true, min: 0 }) ?? 0,
    sinkSize: numberOption(args, 'sink', { integer: true, min: 0 }) ?? 64,
    recentSize: numberOption(args, 'recent', { integer: true, min: 0 }) ?? 256,
    ...(threads !== undefined ? { threads } : {}),
    ...(patternDir !== undefined ? { patternDir } : {}),
    ...(backendName !== undefined ? { backendName } : {}),
  };
}

/** The backend to benchmark on: --backend, or the best available; --threads builds a cpu backend with that many. */
export function benchBackend(options: BenchCommonOptions): Promise<Backend> {
  return options.threads !== undefined && (options.backendName ?? 'cpu') === 'cpu'
    ? Promise.resolve(createCpuBackend({ threads: options.threads }))
    : resolveBackend(options.backendName);
}
