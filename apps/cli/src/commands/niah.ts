// `duo niah`: needle-in-a-haystack retrieval over context lengths × depths, for one or several
// policies on the same prompts. Each value-mode trial hides a fresh random value and is scored by
// exact match; classic needles (no {value}) are scored by ROUGE-1 recall, like the original.
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type KvCachePolicy,
  planMemory,
  weightDtypeFromConfig,
  writeFileAtomic,
  writeFilesAtomically,
} from '@duo-attn/core';
import {
  type HaystackSource,
  type NeedleCell,
  prepareNeedleGrid,
  readHaystackDirectory,
  runNeedleGrid,
  TOY_NEEDLE_TEMPLATES,
} from '@duo-attn/eval';
import { renderHeatmapPng, renderHeatmapSvg } from '@duo-attn/patterns';
import { numberOption, type OptionSpec, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, formatBytes, formatTable, printJson, progressReporter } from '../cli-io.js';
import { parseIdList } from '../id-list.js';
import { InterruptedError } from '../interrupted.js';
import {
  MODEL_OPTIONS,
  modelDirectory,
  openExecutor,
  openModel,
  openTokenizer,
  QUANT_OPTIONS,
  QUANT_USAGE,
} from '../model-options.js';
import { prepareOutputDirectory } from '../output-path.js';
import { POLICY_OPTIONS, POLICY_USAGE, policiesFromArgs } from '../policy-options.js';

export const NIAH_USAGE = `Usage: duo niah [--model DIR] [--backend NAME] [policy options] --lengths 1024,2048,...
         [--depths 0,25,50,75,100] [--trials N] [--seed N] [--haystack-dir DIR] [--needle T] [--question T]
         [--answer-prefix T] [--value-digits N] [--max-new-tokens N] [--prefill-chunk N] [--out DIR] [--json]

Hides a needle at each depth of each context length, asks for it, and scores the greedy answer. With
{value} in the needle every trial hides a fresh --value-digits number (default 7), scored by exact
match; without it the needle is a fixed sentence scored by ROUGE-1 recall. Several policies run on the
same prompts: --policy full --policy streaming [--pattern DIR ...] (or --policy duo). The haystack is
generated text unless --haystack-dir names a folder of .txt files. Templates default to the bundled toy
model's format; the model defaults to the bundled toy model. --out DIR writes results.json and a
heatmap per policy (SVG and PNG).
Defaults: --depths 0,25,50,75,100, --trials 1, --seed 0, --value-digits 7.

${POLICY_USAGE.replace('--policy full|streaming     full attention (default) or streaming heads only (StreamingLLM-like)', '--policy full|streaming|duo repeatable; duo needs --pattern (default: full)')}
${QUANT_USAGE}`;

const NIAH_OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  ...QUANT_OPTIONS,
  ...POLICY_OPTIONS,
  policy: { type: 'string', multiple: true },
  lengths: { type: 'string' },
  depths: { type: 'string' },
  trials: { type: 'string' },
  seed: { type: 'string' },
  'haystack-dir': { type: 'string' },
  needle: { type: 'string' },
  question: { type: 'string' },
  'answer-prefix': { type: 'string' },
  'value-digits': { type: 'string' },
  'max-new-tokens': { type: 'string' },
  'prefill-chunk': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
};

/** One policy's results. */
export interface NiahPolicyResult {
  readonly name: string;
  readonly description: string;
  readonly backend: string;
  readonly score: number;
  readonly trials: number;
  /** The KV cache dtype the executor kept (fp32 on cpu/reference unless --kv-dtype, bf16 on cuda). */
  readonly kvCacheDtype: string;
  /** `w8a8` for int8 weights and activations, else `float`. */
  readonly weights: 'float' | 'w8a8';
  /** KV bytes per token of context in that dtype, from the memory planner. */
  readonly kvBytesPerToken: number;
  /** KV bytes the policy holds at the longest length. */
  readonly kvBytesAtLongest: number;
  readonly cells: readonly NeedleCell[];
}

export async function runNiah(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(argv, NIAH_OPTIONS, NIAH_USAGE);
  const result = await niah(args.values, io, signal);
  if (args.values.json) printJson(io, result.json);
  else io.stdout(result.text);
}

/** A policy a NIAH run compares: from the options, or passed in (`duo demo`'s random-heads control). */
export interface NiahPolicy {
  readonly name: string;
  readonly policy: KvCachePolicy;
  readonly description: string;
}

/**
 * Runs the NIAH grid described by parsed options, then `extraPolicies` on the same prompts; shared by
 * `duo niah` and `duo demo`.
 */
export async function niah(
  values: Record<string, unknown>,
  io: CliIo,
  signal?: AbortSignal,
  extraPolicies: readonly NiahPolicy[] = [],
): Promise<{ json: Record<string, unknown>; text: string; policies: NiahPolicyResult[] }> {
  const args = { values: values as never, positionals: [] };
  const lengthsText = stringOption(args, 'lengths');
  if (lengthsText === undefined) throw new UsageError('--lengths is required', NIAH_USAGE);
  const lengths = parseIdList(lengthsText, '--lengths');
  const depths = parseIdList(stringOption(args, 'depths') ?? '0,25,50,75,100', '--depths');
  for (const depth of depths) if (depth > 100) throw new UsageError(`--depths: ${depth} is not a percentage`);
  const trials = numberOption(args, 'trials', { integer: true, min: 1 }) ?? 1;
  const seed = numberOption(args, 'seed', { integer: true, min: 0 }) ?? 0;
  const valueDigits = numberOption(args, 'value-digits', { integer: true, min: 1, max: 15 }) ?? 7;
  const templates = {
    needle: stringOption(args, 'needle') ?? TOY_NEEDLE_TEMPLATES.needle,
    question: stringOption(args, 'question') ?? TOY_NEEDLE_TEMPLATES.question,
    answerPrefix: stringOption(args, 'answer-prefix') ?? TOY_NEEDLE_TEMPLATES.answerPrefix,
  };
  const maxNewTokens = numberOption(args, 'max-new-tokens', { integer: true, min: 1 }) ?? valueDigits + 4;
  const prefillChunkSize = numberOption(args, 'prefill-chunk', { integer: true, min: 1 });
  const outOption = stringOption(args, 'out');

  // Everything that can be wrong is checked before the first forward pass, the output path too.
  const out = outOption !== undefined ? await prepareOutputDirectory(outOption) : undefined;
  const haystackDir = stringOption(args, 'haystack-dir');
  const haystack: HaystackSource =
    haystackDir !== undefined
      ? { kind: 'text', text: await readHaystackDirectory(haystackDir) }
      : { kind: 'generated' };
  const tokenizer = await openTokenizer(args);
  const model = await openModel(args, io);
  const capacity = model.config.maxPositionEmbeddings;
  const tooLong = lengths.filter((length) => length > capacity);
  if (tooLong.length > 0) {
    throw new UsageError(
      `--lengths ${tooLong.join(',')} exceed the model's context of ${capacity} tokens (max_position_embeddings)`,
    );
  }
  const policies: NiahPolicy[] = [...(await policiesFromArgs(args, model.config)), ...extraPolicies];
  const grid = prepareNeedleGrid(tokenizer, {
    lengths,
    depths,
    trials,
    templates,
    seed,
    valueDigits,
    haystack,
  });
  const longest = Math.max(...lengths);
  // A prompt may fill the context; its answer then runs past it, as in the original's grid. That is
  // allowed here on purpose (and said), where generate refuses it by default.
  const contextLength = Math.max(capacity, longest + maxNewTokens);
  if (longest + maxNewTokens > capacity) {
    io.stderr(
      `note: answers to ${longest}-token prompts run past the model's ${capacity}-token context by up to ${longest + maxNewTokens - capacity} tokens\n`,
    );
  }

  const results: NiahPolicyResult[] = [];
  const records: Record<string, unknown[]> = {};
  let interrupted = false;
  for (const { name, policy, description } of policies) {
    if (signal?.aborted) {
      interrupted = true;
      break;
    }
    const { backend, executor } = await openExecutor(args, model, policy, longest + maxNewTokens);
    io.stderr(`${backend.name} backend, ${description}: ${grid.trials.length} trials\n`);
    const progress = progressReporter(io, grid.trials.length);
    try {
      const run = await runNeedleGrid(executor, tokenizer, grid, {
        maxNewTokens,
        contextLength,
        ...(prefillChunkSize !== undefined ? { prefillChunkSize } : {}),
        ...(signal !== undefined ? { signal } : {}),
        onTrial: (record, done) =>
          progress(
            done,
            `${name} ${record.length}@${record.depth}%: ${record.score === 1 ? 'found' : record.score > 0 ? `partly (${record.score.toFixed(2)})` : 'missed'}`,
          ),
      });
      interrupted = run.interrupted;
      if (run.records.length > 0) {
        const plan = planMemory(model.config, executor.policy, {
          weightDtype: model.w8a8 !== undefined ? 'int8' : (weightDtypeFromConfig(model.config) ?? 'fp32'),
        });
        const score = run.records.reduce((sum, record) => sum + record.score, 0) / run.records.length;
        results.push({
          name,
          description,
          backend: backend.name,
          kvCacheDtype: executor.policy.cacheDtype,
          weights: model.w8a8 !== undefined ? 'w8a8' : 'float',
          score,
          trials: run.records.length,
          kvBytesPerToken: plan.policy.kvBytesPerToken,
          kvBytesAtLongest: plan.policy.kvBytesPerToken * longest + plan.policy.streamingKvBytes,
          cells: run.cells,
        });
        records[name] = run.records;
      }
    } finally {
      await executor.dispose();
    }
    if (interrupted) break;
  }

  const finished = Object.values(records).reduce((sum, list) => sum + list.length, 0);
  const total = grid.trials.length * policies.length;
  const json = {
    model: modelDirectory(args),
    mode: grid.mode,
    lengths,
    depths,
    trialsPerCell: trials,
    seed,
    prefillChunkSize: prefillChunkSize ?? null,
    haystack: haystackDir !== undefined ? resolve(haystackDir) : 'generated',
    templates,
    ...(interrupted ? { partial: true, trialsFinished: finished, trialsTotal: total } : {}),
    cells: results.flatMap((result) => result.cells.map((cell) => ({ policy: result.name, ...cell }))),
    policies: results.map(({ cells: _cells, ...summary }) => summary),
    trials: records,
  };
  if (interrupted) {
    // Finished trials are kept beside (never over) the results of an earlier complete run.
    let where = '';
    if (out !== undefined) {
      const file = join(out, NIAH_PARTIAL_FILE);
      await writeFileAtomic(file, `${JSON.stringify(json, null, 2)}\n`);
      where = `; the finished trials are in ${file}`;
    }
    throw new InterruptedError(`niah interrupted after ${finished} of ${total} trials${where}`);
  }
  if (out !== undefined) await writeNiahOutputs(out, json, results, lengths, depths, io);
  return { json, text: formatNiah(results, lengths, depths, grid.mode), policies: results };
}

/** File an interrupted run writes its finished trials to (results.json is left as it was). */
export const NIAH_PARTIAL_FILE = 'results.partial.json';

function formatNiah(
  results: readonly NiahPolicyResult[],
  lengths: readonly number[],
  depths: readonly number[],
  mode: string,
): string {
  let text = '';
  for (const result of results) {
    const rows = depths.map((depth) => [
      `${depth}%`,
      ...lengths.map((length) => {
        const cell = result.cells.find((c) => c.length === length && c.depth === depth)!;
        return mode === 'value' ? `${cell.correct}/${cell.trials}` : cell.score.toFixed(2);
      }),
    ]);
    text += `${result.description} (${result.backend} backend, ${result.kvCacheDtype} KV cache, ${result.weights} weights)\n${formatTable([['depth \\ length', ...lengths.map(String)], ...rows])}\n`;
  }
  text += formatTable([
    [
      'policy',
      mode === 'value' ? 'accuracy' : 'mean ROUGE-1 recall',
      'KV bytes/token',
      `KV at ${Math.max(...lengths)} tokens`,
    ],
    ...results.map((result) => [
      result.name,
      `${(result.score * 100).toFixed(1)}%`,
      formatBytes(result.kvBytesPerToken),
      formatBytes(result.kvBytesAtLongest),
    ]),
  ]);
  return text;
}

async function writeNiahOutputs(
  out: string,
  json: Record<string, unknown>,
  results: readonly NiahPolicyResult[],
  lengths: readonly number[],
  depths: readonly number[],
  io: CliIo,
): Promise<void> {
  const files: { path: string; data: string | Uint8Array }[] = [
    { path: join(out, 'results.json'), data: `${JSON.stringify(json, null, 2)}\n` },
  ];
  for (const result of results) {
    const matrix = depths.map((depth) =>
      lengths.map((length) => result.cells.find((c) => c.length === length && c.depth === depth)!.score),
    );
    const options = {
      title: `NIAH ${result.name}: ${(result.score * 100).toFixed(1)}%`,
      xLabel: 'context length (tokens)',
      yLabel: 'depth',
      xTicks: lengths.map(String),
      yTicks: depths.map((depth) => `${depth}%`),
      cellSize: 40,
    };
    files.push({ path: join(out, `niah-${result.name}.svg`), data: renderHeatmapSvg(matrix, options) });
    files.push({ path: join(out, `niah-${result.name}.png`), data: renderHeatmapPng(matrix, options) });
  }
  // All or nothing: a failed write leaves the previous run's files as they were.
  await writeFilesAtomically(files);
  await rm(join(out, NIAH_PARTIAL_FILE), { force: true });
  io.stderr(`wrote ${out}: results.json and a heatmap per policy\n`);
}
