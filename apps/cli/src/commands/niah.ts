// `duo niah`: needle-in-a-haystack retrieval accuracy over context lengths × depths, one policy per
// run. Each trial hides a fresh random value; the score is exact match of the greedy answer.
import { runRetrievalGrid, TOY_NEEDLE_TEMPLATES } from '@duo-attn/eval';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, formatTable, printJson } from '../cli-io.js';
import { parseIdList } from '../id-list.js';
import { MODEL_OPTIONS, modelDirectory, openExecutor, openModel, openTokenizer } from '../model-options.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFromArgs } from '../policy-options.js';

export const NIAH_USAGE = `Usage: duo niah [--model DIR] [--backend NAME] [policy options] --lengths 1024,2048,...
         [--depths 0,25,50,75,100] [--trials N] [--seed N] [--value-digits N] [--needle T] [--question T]
         [--max-new-tokens N] [--prefill-chunk N] [--json]

Hides a random --value-digits number (default 7) in generated haystack text at each depth of each
context length, asks for it, and scores exact match of the greedy answer. --trials per cell
(default 1). Templates must contain {value}; the defaults are the bundled toy model's format. The
model defaults to the bundled toy model.

${POLICY_USAGE}`;

export async function runNiah(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      ...MODEL_OPTIONS,
      ...POLICY_OPTIONS,
      lengths: { type: 'string' },
      depths: { type: 'string' },
      trials: { type: 'string' },
      seed: { type: 'string' },
      'value-digits': { type: 'string' },
      needle: { type: 'string' },
      question: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'prefill-chunk': { type: 'string' },
      json: { type: 'boolean' },
    },
    NIAH_USAGE,
  );
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
  };
  if (!templates.needle.includes('{value}'))
    throw new UsageError('--needle must contain {value}, the place of the answer');
  const maxNewTokens = numberOption(args, 'max-new-tokens', { integer: true, min: 1 }) ?? valueDigits + 4;
  const prefillChunkSize = numberOption(args, 'prefill-chunk', { integer: true, min: 1 });

  const model = await openModel(args, io);
  const tokenizer = await openTokenizer(args);
  const { policy, description } = await policyFromArgs(args, model.config);
  const longest = Math.max(...lengths);
  if (longest + maxNewTokens > model.config.maxPositionEmbeddings) {
    io.stderr(
      `warning: ${longest} + ${maxNewTokens} tokens exceed the model's max_position_embeddings (${model.config.maxPositionEmbeddings})\n`,
    );
  }
  const { backend, executor } = await openExecutor(args, model, policy, longest + maxNewTokens);
  const total = lengths.length * depths.length * trials;
  io.stderr(`${backend.name} backend, ${description}: ${total} trials\n`);
  const started = performance.now();
  let done = 0;
  try {
    const { cells, trials: records } = await runRetrievalGrid(executor, tokenizer, {
      lengths,
      depths,
      trials,
      seed,
      valueDigits,
      templates,
      maxNewTokens,
      ...(prefillChunkSize !== undefined ? { prefillChunkSize } : {}),
      ...(signal !== undefined ? { signal } : {}),
      onTrial: (trial) => {
        done++;
        const elapsed = (performance.now() - started) / 1000;
        io.stderr(
          `[${done}/${total}] length ${trial.length} depth ${trial.depth}%: ${trial.correct ? 'found' : 'missed'} ` +
            `(${JSON.stringify(trial.output.trim())} vs ${trial.value}), ${elapsed.toFixed(0)} s elapsed\n`,
        );
      },
    });
    const overall = cells.reduce((sum, cell) => sum + cell.correct, 0) / total;
    if (args.values.json) {
      printJson(io, {
        model: modelDirectory(args),
        backend: backend.name,
        policy: description,
        prefillChunkSize: prefillChunkSize ?? null,
        seed,
        templates,
        cells,
        summary: { trials: total, score: overall },
        trials: records,
        seconds: (performance.now() - started) / 1000,
      });
      return;
    }
    const header = ['depth \\ length', ...lengths.map(String)];
    const rows = depths.map((depth) => [
      `${depth}%`,
      ...lengths.map((length) => {
        const cell = cells.find((c) => c.length === length && c.depth === depth)!;
        return `${cell.correct}/${cell.trials}`;
      }),
    ]);
    io.stdout(
      `${description}\n${formatTable([header, ...rows])}overall ${(overall * 100).toFixed(1)}% of ${total} trials\n`,
    );
  } finally {
    await executor.dispose();
  }
}
