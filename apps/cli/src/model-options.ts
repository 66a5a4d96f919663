// Opening what a model command needs: the model directory, its tokenizer, a backend and an
// executor sized for the work. Progress goes to stderr so stdout stays clean for results.
import {
  type Backend,
  defaultModelDirectory,
  type Executor,
  KV_CACHE_DTYPES,
  type KvCacheDtype,
  type KvCachePolicy,
  type LoadedModel,
  loadModel,
  loadTokenizer,
  policyForBackend,
  quantizeLinears,
  resolveBackend,
  type Tokenizer,
  TokenizerError,
} from '@duo-attn/core';
import { hasQuantizationConfig, loadQuantizedModel } from '@duo-attn/quant';
import { type OptionSpec, type ParsedArgs, stringOption, UsageError } from './cli-args.js';
import type { CliIo } from './cli-io.js';

export const MODEL_OPTIONS: OptionSpec = {
  model: { type: 'string' },
  backend: { type: 'string' },
};

/** `--kv-dtype` and `--weights`, taken by the commands that run inference (see {@link QUANT_USAGE}). */
export const QUANT_OPTIONS: OptionSpec = {
  'kv-dtype': { type: 'string' },
  weights: { type: 'string' },
};

/** Usage lines of the quantization options every model command takes. */
export const QUANT_USAGE = `Quantization options:
  --kv-dtype fp32|bf16|fp16|int4   KV cache dtype (default: the backend's own, fp32 on cpu/reference,
                                   bf16 on cuda); int4: 4-bit codes with an fp16 scale and zero per
                                   token and KV head (reference backend only, for now)
  --weights float|w8a8             w8a8: int8 weights per output channel and int8 activations per
                                   token (reference and cpu backends, for now). A directory written by
                                   \`duo quantize\` is W8A8 already (SmoothQuant-calibrated); on a float
                                   model, w8a8 quantizes at load without smoothing
`;

/** `--weights`, checked: `float`, `w8a8`, or undefined when not given. */
export function weightsOption(args: ParsedArgs): 'float' | 'w8a8' | undefined {
  const value = stringOption(args, 'weights');
  if (value === undefined || value === 'float' || value === 'w8a8') return value;
  throw new UsageError(`--weights must be float or w8a8, got "${value}"`);
}

/** `--kv-dtype`, checked, or undefined when not given. */
export function kvDtypeOption(args: ParsedArgs): KvCacheDtype | undefined {
  const value = stringOption(args, 'kv-dtype');
  if (value === undefined) return undefined;
  if (!KV_CACHE_DTYPES.includes(value as KvCacheDtype)) {
    throw new UsageError(`--kv-dtype must be one of ${KV_CACHE_DTYPES.join(', ')}, got "${value}"`);
  }
  return value as KvCacheDtype;
}

/** The model directory the command works on: --model, or the bundled toy model. */
export function modelDirectory(args: ParsedArgs): string {
  return stringOption(args, 'model') ?? defaultModelDirectory();
}

/**
 * Loads a model with progress on stderr: a quantized checkpoint (written by `duo quantize`) as W8A8,
 * a float one as it is, or quantized to W8A8 at load with `--weights w8a8`.
 */
export async function openModel(args: ParsedArgs, io: CliIo): Promise<LoadedModel> {
  const dir = modelDirectory(args);
  const weights = weightsOption(args);
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  if (await hasQuantizationConfig(dir)) {
    if (weights === 'float') {
      throw new UsageError(`${dir} is a quantized (W8A8) checkpoint; --weights float needs a float model`);
    }
    const model = await loadQuantizedModel(dir);
    io.stderr(`loaded ${dir} (${model.config.architecture}, W8A8 checkpoint) in ${seconds()} s\n`);
    return model;
  }
  const model = await loadModel(dir);
  if (weights !== 'w8a8') {
    io.stderr(`loaded ${dir} (${model.config.architecture}) in ${seconds()} s\n`);
    return model;
  }
  const quantized = { ...model, ...quantizeLinears(model) };
  io.stderr(
    `loaded ${dir} (${model.config.architecture}) and quantized it to W8A8 without SmoothQuant in ${seconds()} s (duo quantize writes a calibrated checkpoint)\n`,
  );
  return quantized;
}

/** The tokenizer of the model directory. */
export function openTokenizer(args: ParsedArgs): Promise<Tokenizer> {
  return loadTokenizer(modelDirectory(args));
}

/**
 * The tokenizer when the model directory has one, undefined when it has no tokenizer.json. Paths
 * that take and return token ids use this, so they work on a directory with weights only; a broken
 * tokenizer (bad JSON, unsupported type) still fails.
 */
export async function openTokenizerIfPresent(args: ParsedArgs): Promise<Tokenizer | undefined> {
  try {
    return await loadTokenizer(modelDirectory(args));
  } catch (error) {
    if (error instanceof TokenizerError && error.reason === 'missing-file') return undefined;
    throw error;
  }
}

/**
 * `policy` with the KV cache dtype `kvDtype` (from --kv-dtype) when given, a backend without it then
 * refusing the load; otherwise core's `policyForBackend` (the backend's native cache dtype).
 */
export function policyWithKvDtype(
  policy: KvCachePolicy,
  backend: Backend,
  kvDtype: KvCacheDtype | undefined,
): KvCachePolicy {
  return kvDtype !== undefined ? { ...policy, cacheDtype: kvDtype } : policyForBackend(policy, backend);
}

/** Resolves `--backend` (or the best available one) and loads the model under `policy`. */
export async function openExecutor(
  args: ParsedArgs,
  model: LoadedModel,
  policy: KvCachePolicy,
  maxTokens: number,
): Promise<{ backend: Backend; executor: Executor }> {
  const backend = await resolveBackend(stringOption(args, 'backend'));
  const executor = await backend.load(model, policyWithKvDtype(policy, backend, kvDtypeOption(args)), {
    maxTokens,
  });
  return { backend, executor };
}
