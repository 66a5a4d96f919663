// Opening what a model command needs: the model directory, its tokenizer, a backend and an
// executor sized for the work. Progress goes to stderr so stdout stays clean for results.
import {
  type Backend,
  defaultModelDirectory,
  type Executor,
  type KvCachePolicy,
  type LoadedModel,
  loadModel,
  loadTokenizer,
  policyForBackend,
  resolveBackend,
  type Tokenizer,
  TokenizerError,
} from '@duo-attn/core';
import { type OptionSpec, type ParsedArgs, stringOption } from './cli-args.js';
import type { CliIo } from './cli-io.js';

export const MODEL_OPTIONS: OptionSpec = {
  model: { type: 'string' },
  backend: { type: 'string' },
};

/** The model directory the command works on: --model, or the bundled toy model. */
export function modelDirectory(args: ParsedArgs): string {
  return stringOption(args, 'model') ?? defaultModelDirectory();
}

/** Loads a model with progress on stderr. */
export async function openModel(args: ParsedArgs, io: CliIo): Promise<LoadedModel> {
  const dir = modelDirectory(args);
  const started = performance.now();
  const model = await loadModel(dir);
  io.stderr(
    `loaded ${dir} (${model.config.architecture}) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return model;
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

/** Resolves `--backend` (or the best available one) and loads the model under `policy`. */
export async function openExecutor(
  args: ParsedArgs,
  model: LoadedModel,
  policy: KvCachePolicy,
  maxTokens: number,
): Promise<{ backend: Backend; executor: Executor }> {
  const backend = await resolveBackend(stringOption(args, 'backend'));
  const executor = await backend.load(model, policyForBackend(policy, backend), { maxTokens });
  return { backend, executor };
}
