// `duo score`: teacher-forced logits. The first P ids are prefilled in chunks of C, every later id
// is one decode step, exactly the path generation takes, so policies can be compared position by
// position.
import { ContextLengthError, score } from '@duo-attn/core';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, printJson } from '../cli-io.js';
import { parseIdList, readIdFile } from '../id-list.js';
import { MODEL_OPTIONS, openExecutor, openModel, QUANT_OPTIONS, QUANT_USAGE } from '../model-options.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFromArgs } from '../policy-options.js';

export const SCORE_USAGE = `Usage: duo score --model DIR (--ids 1,2,3 | --ids-file F) --prefill-length P [--prefill-chunk C]
         [--backend NAME] [policy options] [--rows i,j,...] [--context-length N] [--json]

Prints the argmax of the logits at every position (the predicted next token) and, for --rows, the
full logits of those positions (JSON: {"argmax": [...], "logits": {"i": [...]}}). The ids must fit the
model's context (max_position_embeddings) unless --context-length N allows more positions.

${POLICY_USAGE}
${QUANT_USAGE}`;

export async function runScore(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      ...MODEL_OPTIONS,
      ...QUANT_OPTIONS,
      ...POLICY_OPTIONS,
      ids: { type: 'string' },
      'ids-file': { type: 'string' },
      'prefill-length': { type: 'string' },
      'prefill-chunk': { type: 'string' },
      rows: { type: 'string' },
      'context-length': { type: 'string' },
      json: { type: 'boolean' },
    },
    SCORE_USAGE,
  );
  const idsText = stringOption(args, 'ids');
  const idsFile = stringOption(args, 'ids-file');
  if ((idsText === undefined) === (idsFile === undefined))
    throw new UsageError('give exactly one of --ids or --ids-file', SCORE_USAGE);
  const ids =
    idsText !== undefined ? parseIdList(idsText, '--ids') : await readIdFile(idsFile!, '--ids-file');
  const prefillLength = numberOption(args, 'prefill-length', { integer: true, min: 1, max: ids.length });
  if (prefillLength === undefined) throw new UsageError('--prefill-length P is required', SCORE_USAGE);
  const prefillChunkSize = numberOption(args, 'prefill-chunk', { integer: true, min: 1 });
  const rowsText = stringOption(args, 'rows');
  const rows = rowsText !== undefined ? parseIdList(rowsText, '--rows') : [];
  for (const row of rows) {
    if (row >= ids.length) throw new UsageError(`--rows: ${row} is not a position of the ${ids.length} ids`);
  }
  const contextLength = numberOption(args, 'context-length', { integer: true, min: 1 });
  const model = await openModel(args, io);
  const limit = contextLength ?? model.config.maxPositionEmbeddings;
  if (ids.length > limit) throw new ContextLengthError(ids.length, 0, limit, 'the id list');
  const { policy, description } = await policyFromArgs(args, model.config);
  const { backend, executor } = await openExecutor(args, model, policy, ids.length);
  io.stderr(`${backend.name} backend, ${description}, ${ids.length} ids (prefill ${prefillLength})\n`);
  try {
    const result = await score(executor, ids, {
      prefillLength,
      ...(prefillChunkSize !== undefined ? { prefillChunkSize } : {}),
      rows,
      ...(signal !== undefined ? { signal } : {}),
      ...(contextLength !== undefined ? { contextLength } : {}),
    });
    const logits = Object.fromEntries(
      [...result.logits].map(([row, values]) => [String(row), Array.from(values)]),
    );
    if (args.values.json) {
      printJson(io, { argmax: result.argmax, logits, backend: backend.name, policy: description });
      return;
    }
    io.stdout(`argmax: ${result.argmax.join(',')}\n`);
    for (const [row, values] of Object.entries(logits)) {
      io.stdout(`logits[${row}]: ${values.map((v) => v.toFixed(4)).join(' ')}\n`);
    }
  } finally {
    await executor.dispose();
  }
}
