// `duo longbench`: LongBench (or LongBench-E) on a model for one or several policies, with the
// official metrics. Every sample's answer is written as it finishes (one JSONL file per policy and
// dataset), so an interrupted run resumes where it stopped; the result table comes at the end.
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type KvCachePolicy, resolveBackend, writeFilesAtomically } from '@duo-attn/core';
import {
  DEFAULT_STEPWISE_PROMPT_TAIL,
  findLongBenchTables,
  formatLongBenchMarkdown,
  isLongBenchDataset,
  LONGBENCH_DATASETS,
  LONGBENCH_E_DATASETS,
  type LongBenchFile,
  LongBenchResultsFile,
  type LongBenchScoreRow,
  longBenchFileName,
  measureLongBenchPrompts,
  readLongBenchFile,
  readLongBenchTables,
  runLongBenchFile,
  scoreLongBenchRecords,
} from '@duo-attn/eval';
import { numberOption, type OptionSpec, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, printJson, progressReporter } from '../cli-io.js';
import { InterruptedError } from '../interrupted.js';
import { MODEL_OPTIONS, modelDirectory, openExecutor, openModel, openTokenizer } from '../model-options.js';
import { prepareOutputDirectory } from '../output-path.js';
import { POLICY_OPTIONS, POLICY_USAGE, policiesFromArgs } from '../policy-options.js';

export const LONGBENCH_USAGE = `Usage: duo longbench --data DIR [--datasets a,b,...] [--e] [--tables DIR] [--model DIR]
         [--backend NAME] [policy options] [--max-length N] [--no-chat-template] [--decode-tail N]
         [--prefill-chunk N] [--limit N] [--out DIR] [--json]

Runs LongBench on the model and scores it with the official metrics. --data is a folder of the
official JSONL files (<dataset>.jsonl; with --e, LongBench-E's <dataset>_e.jsonl); nothing is
downloaded. Default: every dataset whose file is there. --tables is the folder of dataset2prompt.json,
dataset2maxlen.json and model2maxlen.json (the original's config/; default: --data itself, then
$DUO_SHARED_DIR/data/longbench, then a checkout's ../shared/data/longbench).

  --max-length N       prompt tokens kept (the middle of longer prompts goes); default
                       model2maxlen[model folder name], else the context minus the answer length
  --no-chat-template   never wrap prompts in the model's chat template (the original never did)
  --decode-tail N      the prompt's last N tokens are fed one at a time, as the original's
                       decoding simulation (default ${DEFAULT_STEPWISE_PROMPT_TAIL})
  --prefill-chunk N    prefill in chunks of N tokens (default: one call, as the original)
  --limit N            only the first N samples of each file
  (the original's runs: --pattern DIR --sparsity 0.5 or 0.75 --sink 64 --recent 256; --pattern-seed
  defaults to its seed 42)
  --out DIR            results (default longbench-results/<model folder name>): <policy>/<file>.jsonl,
                       one line per sample, resumed when run again with the same settings;
                       results.json and results.md at the end

${POLICY_USAGE.replace('--policy full|streaming     full attention (default) or streaming heads only (StreamingLLM-like)', '--policy full|streaming|duo repeatable; duo needs --pattern (default: full)')}`;

const LONGBENCH_OPTIONS: OptionSpec = {
  ...MODEL_OPTIONS,
  ...POLICY_OPTIONS,
  policy: { type: 'string', multiple: true },
  data: { type: 'string' },
  datasets: { type: 'string' },
  e: { type: 'boolean' },
  tables: { type: 'string' },
  'max-length': { type: 'string' },
  'no-chat-template': { type: 'boolean' },
  'decode-tail': { type: 'string' },
  'prefill-chunk': { type: 'string' },
  limit: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
};

export async function runLongBench(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(argv, LONGBENCH_OPTIONS, LONGBENCH_USAGE);
  const result = await longbench(args, io, signal);
  if (args.values.json) printJson(io, result.json);
  else io.stdout(result.markdown);
}

/** The datasets to run: --datasets (checked), else every one whose file is in the data folder. */
function selectDatasets(given: string | undefined, dataDir: string, longbenchE: boolean): string[] {
  const known = longbenchE ? LONGBENCH_E_DATASETS : LONGBENCH_DATASETS;
  if (given === undefined) {
    const present = known.filter((dataset) =>
      existsSync(join(dataDir, longBenchFileName(dataset, longbenchE))),
    );
    if (present.length === 0) {
      throw new UsageError(
        `--data ${dataDir} has no ${longbenchE ? 'LongBench-E' : 'LongBench'} files (such as ${longBenchFileName('hotpotqa', longbenchE)})`,
      );
    }
    return present;
  }
  const names = [...new Set(given.split(',').map((name) => name.trim()))];
  for (const name of names) {
    if (!isLongBenchDataset(name)) {
      throw new UsageError(
        `--datasets: "${name}" is not a LongBench dataset (known: ${LONGBENCH_DATASETS.join(', ')})`,
      );
    }
    if (!known.includes(name)) {
      throw new UsageError(
        `--datasets: "${name}" is not in LongBench-E (it has: ${LONGBENCH_E_DATASETS.join(', ')})`,
      );
    }
  }
  return names;
}

/** Per-layer retrieval heads, compactly ("0,1|2|" ...), so a results file names its exact mask. */
function retrievalHeads(policy: KvCachePolicy): string {
  return policy.layers.map((layer) => layer.retrievalKvHeads.join(',')).join('|');
}

/** Runs the command on parsed options; returns the summary as JSON and as markdown. */
export async function longbench(
  args: ReturnType<typeof parseCommandArgs>,
  io: CliIo,
  signal?: AbortSignal,
): Promise<{ json: Record<string, unknown>; markdown: string; rows: LongBenchScoreRow[] }> {
  const dataOption = stringOption(args, 'data');
  if (dataOption === undefined) throw new UsageError('--data DIR is required', LONGBENCH_USAGE);
  const dataDir = resolve(dataOption);
  const longbenchE = args.values.e === true;
  const datasets = selectDatasets(stringOption(args, 'datasets'), dataDir, longbenchE);
  const maxLengthOption = numberOption(args, 'max-length', { integer: true, min: 2 });
  const decodeTail =
    numberOption(args, 'decode-tail', { integer: true, min: 0 }) ?? DEFAULT_STEPWISE_PROMPT_TAIL;
  const prefillChunkSize = numberOption(args, 'prefill-chunk', { integer: true, min: 1 });
  const limit = numberOption(args, 'limit', { integer: true, min: 1 });
  const chatTemplate = args.values['no-chat-template'] !== true;
  const modelDir = resolve(modelDirectory(args));
  const modelName = basename(modelDir);

  // Everything that can be wrong is checked before the first forward pass.
  const tables = await readLongBenchTables(stringOption(args, 'tables') ?? findLongBenchTables(dataDir));
  for (const dataset of datasets) {
    if (tables.prompts[dataset] === undefined || tables.maxNewTokens[dataset] === undefined) {
      throw new UsageError(`the tables in ${tables.dir} have no prompt or answer length for ${dataset}`);
    }
  }
  const files: LongBenchFile[] = [];
  for (const dataset of datasets) files.push(await readLongBenchFile(dataDir, dataset, longbenchE));
  const out = await prepareOutputDirectory(stringOption(args, 'out') ?? join('longbench-results', modelName));
  const tokenizer = await openTokenizer(args);
  const model = await openModel(args, io);
  const context = model.config.maxPositionEmbeddings;
  const lengthSource =
    maxLengthOption !== undefined
      ? '--max-length'
      : tables.modelMaxLength[modelName] !== undefined
        ? `model2maxlen.json ("${modelName}")`
        : undefined;
  const maxLengthFor = (dataset: string): number => {
    const answer = tables.maxNewTokens[dataset]!;
    const maxLength = maxLengthOption ?? tables.modelMaxLength[modelName] ?? context - answer;
    if (maxLength + answer > context) {
      throw new UsageError(
        `${lengthSource ?? 'the context'} gives ${maxLength} prompt tokens; with ${dataset}'s ${answer} answer tokens that exceeds the model's context of ${context} tokens`,
      );
    }
    return maxLength;
  };
  const maxLengths = new Map(datasets.map((dataset) => [dataset, maxLengthFor(dataset)]));
  const policies = await policiesFromArgs(args, model.config);
  const subsets = files.map((file) =>
    limit === undefined ? file : { ...file, samples: file.samples.slice(0, limit) },
  );
  // Every prompt is built once now: a bad template fails before any generation, and the executor is
  // sized by the longest real prompt plus its answer, not by the maximum length.
  let maxTokens = 0;
  let longestPrompt = 0;
  for (const file of subsets) {
    const lengths = measureLongBenchPrompts(tokenizer, file, {
      promptTemplate: tables.prompts[file.dataset]!,
      maxLength: maxLengths.get(file.dataset)!,
      chatTemplate,
    });
    const longest = Math.max(...lengths);
    longestPrompt = Math.max(longestPrompt, longest);
    maxTokens = Math.max(maxTokens, longest + tables.maxNewTokens[file.dataset]!);
  }
  const samplesPerPolicy = subsets.reduce((sum, file) => sum + file.samples.length, 0);
  const total = policies.length * samplesPerPolicy;
  io.stderr(
    `${subsets.length} ${subsets.length === 1 ? 'file' : 'files'}, ${samplesPerPolicy} samples, prompts up to ${longestPrompt} tokens, ${policies.length} ${policies.length === 1 ? 'policy' : 'policies'}\n`,
  );

  // Every results file is opened (and one of other settings refused) before any generation.
  const backendName = (await resolveBackend(stringOption(args, 'backend'))).name;
  const resultFiles = new Map<string, LongBenchResultsFile>();
  for (const { name, policy, description } of policies) {
    await prepareOutputDirectory(join(out, name));
    for (const file of subsets) {
      const fileName = longBenchFileName(file.dataset, longbenchE);
      const settings = {
        format: 'duo-longbench-results/1',
        model: modelDir,
        backend: backendName,
        policy: description,
        retrievalHeads: retrievalHeads(policy),
        dataset: file.dataset,
        longbenchE,
        dataSha256: file.sha256,
        promptTemplate: tables.prompts[file.dataset],
        maxNewTokens: tables.maxNewTokens[file.dataset],
        maxLength: maxLengths.get(file.dataset),
        chatTemplate: chatTemplate && tokenizer.hasChatTemplate,
        decodeTail,
        prefillChunkSize: prefillChunkSize ?? null,
      };
      resultFiles.set(
        `${name}/${fileName}`,
        await LongBenchResultsFile.open(join(out, name, fileName), settings),
      );
    }
  }

  const rows: LongBenchScoreRow[] = [];
  const progress = progressReporter(io, total);
  let done = 0;
  let interrupted = false;
  for (const { name, policy, description } of policies) {
    if (signal?.aborted) {
      interrupted = true;
      break;
    }
    const { backend, executor } = await openExecutor(args, model, policy, maxTokens);
    io.stderr(`${backend.name} backend, ${description}\n`);
    try {
      for (const file of subsets) {
        const fileName = longBenchFileName(file.dataset, longbenchE);
        const results = resultFiles.get(`${name}/${fileName}`)!;
        const resultsPath = results.path;
        const samples = file.samples;
        const resumed = samples.filter((sample) => results.has(sample.id)).length;
        if (resumed > 0) {
          done += resumed;
          progress(done, `${name} ${fileName}: ${resumed} samples resumed from ${resultsPath}`);
        }
        const run = await runLongBenchFile(executor, tokenizer, file, results, {
          promptTemplate: tables.prompts[file.dataset]!,
          maxNewTokens: tables.maxNewTokens[file.dataset]!,
          maxLength: maxLengths.get(file.dataset)!,
          chatTemplate,
          stepwisePromptTail: decodeTail,
          ...(prefillChunkSize !== undefined ? { prefillChunkSize } : {}),
          ...(signal !== undefined ? { signal } : {}),
          onSample: (record) => {
            done++;
            progress(done, `${name} ${file.dataset} ${record._id}: ${record.score.toFixed(2)}`);
          },
        });
        const ids = new Set(samples.map((sample) => sample.id));
        const finished = results.finished.filter((record) => ids.has(record._id));
        if (finished.length > 0) rows.push(scoreLongBenchRecords(name, file.dataset, longbenchE, finished));
        if (run.interrupted) {
          interrupted = true;
          break;
        }
      }
    } finally {
      await executor.dispose();
    }
    if (interrupted) break;
  }
  if (interrupted) {
    throw new InterruptedError(
      `longbench interrupted after ${done} of ${total} samples; the finished ones are in ${out}/<policy>/*.jsonl and the same command resumes them`,
    );
  }

  const json = {
    model: modelDir,
    data: dataDir,
    tables: tables.dir,
    longbenchE,
    chatTemplate: chatTemplate && tokenizer.hasChatTemplate,
    decodeTail,
    prefillChunkSize: prefillChunkSize ?? null,
    ...(limit !== undefined ? { limit } : {}),
    maxLength: Object.fromEntries(maxLengths),
    policies: policies.map(({ name, description }) => ({ name, description })),
    rows,
  };
  const markdown = formatLongBenchMarkdown(rows);
  await writeFilesAtomically([
    { path: join(out, 'results.json'), data: `${JSON.stringify(json, null, 2)}\n` },
    { path: join(out, 'results.md'), data: `# LongBench: ${modelName}\n\n${markdown}` },
  ]);
  io.stderr(`wrote ${out}: results.json, results.md and the per-sample files\n`);
  return { json, markdown, rows };
}
