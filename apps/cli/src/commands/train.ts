// `duo train`: identifies a model's retrieval heads by training one gate per KV head on synthetic
// multi-passkey data (DuoAttention's objective), and writes an attention-pattern directory the
// original can read. Progress (loss, step time, ETA) goes to stderr; the run checkpoints itself and
// resumes after a kill; a gate heatmap is written at every checkpoint.
import { join } from 'node:path';
import {
  type Backend,
  BackendUnavailableError,
  createRng,
  defaultModelDirectory,
  type GateTrainer,
  getBackend,
  listBackends,
  ORIGINAL_BLOCK_SIZE,
  resolveBackend,
  writeFileAtomic,
} from '@duo-attn/core';
import { generateHaystack, readHaystackDirectory, sentenceEnds } from '@duo-attn/eval';
import { readPattern, renderHeatmapPng } from '@duo-attn/patterns';
import {
  PASSKEY_TEMPLATES,
  PasskeyDataset,
  type StepRecord,
  trainGates,
  writeTrainedPattern,
} from '@duo-attn/train';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, printJson } from '../cli-io.js';
import { InterruptedError } from '../interrupted.js';
import { MODEL_OPTIONS, modelDirectory, openModel, openTokenizer } from '../model-options.js';
import { prepareOutputDirectory } from '../output-path.js';

export const TRAIN_USAGE = `Usage: duo train [--model DIR] --out PATTERN_DIR [--backend NAME]
         [--steps N] [--lr X] [--reg-weight X] [--sink N] [--recent N] [--mask token|block [--block-size B]]
         [--templates original|toy] [--haystack-dir DIR] [--min-context N] [--max-context N]
         [--context-intervals N] [--depth-intervals N] [--passkeys N] [--max-length N] [--pad16]
         [--seed N] [--checkpoint-every N] [--init-pattern DIR] [--json]

Trains one gate per KV head (DuoAttention's objective: the student mixes full and streaming attention
per head and is distilled towards full attention on the answers of a multi-passkey task, with an L1
pull on the gates) and writes PATTERN_DIR/config.json and full_attention_heads.tsv in the original's
format. Model weights stay frozen; only the gates train (AdamW, the original's schedule, clamped to
[0, 1] before each step).

Defaults follow the original (2000 steps, lr 0.02, reg 0.05, sink 128, recent 256, contexts 1000 to
32000 in 50 points, 10 passkeys of 32 NATO words, its prompt strings) except on the bundled toy model,
which trains on its own needle format: --templates toy, sink 16, recent 64, contexts 512 to 4096,
4 passkeys, 300 steps. The streaming mask is token-level (as at inference) unless --mask block (the
original's 128-token blocks). The haystack is generated prose unless --haystack-dir names a folder of
.txt files.

Defaults on every model: --lr 0.02, --reg-weight 0.05, --context-intervals 50, --depth-intervals 1000,
--seed 42, --checkpoint-every 50, --mask token.

PATTERN_DIR/training/ holds checkpoint.json (written every --checkpoint-every steps, default 50, and
on Ctrl-C; a later run with the same settings resumes from it) and a gate heatmap per checkpoint.
Backends: the best one that can train (cuda on a GPU); the float64 reference backend is for tiny models.
`;

const TRAIN_OPTIONS = {
  ...MODEL_OPTIONS,
  out: { type: 'string' },
  steps: { type: 'string' },
  lr: { type: 'string' },
  'reg-weight': { type: 'string' },
  sink: { type: 'string' },
  recent: { type: 'string' },
  mask: { type: 'string' },
  'block-size': { type: 'string' },
  templates: { type: 'string' },
  'haystack-dir': { type: 'string' },
  'min-context': { type: 'string' },
  'max-context': { type: 'string' },
  'context-intervals': { type: 'string' },
  'depth-intervals': { type: 'string' },
  passkeys: { type: 'string' },
  'max-length': { type: 'string' },
  pad16: { type: 'boolean' },
  seed: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'init-pattern': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Settings that differ for the bundled toy model (it was trained on its own needle format to 8K). */
const TOY_DEFAULTS = {
  templates: 'toy',
  sink: 16,
  recent: 64,
  minContext: 512,
  maxContext: 4096,
  passkeys: 4,
  steps: 300,
};
const ORIGINAL_DEFAULTS = {
  templates: 'original',
  sink: 128,
  recent: 256,
  minContext: 1000,
  maxContext: 32000,
  passkeys: 10,
  steps: 2000,
};

/** The best available backend that can train, or the one named. */
async function trainingBackend(name: string | undefined, io: CliIo): Promise<Backend> {
  if (name !== undefined) {
    const backend = await resolveBackend(name);
    if (!backend.capabilities.training || backend.loadGateTrainer === undefined) {
      throw new UsageError(`the ${name} backend cannot train gates (no gate-training support)`);
    }
    return backend;
  }
  const causes: { name: string; reason: string }[] = [];
  for (const entry of listBackends()) {
    if (!entry.capabilities.training) continue;
    const backend = getBackend(entry.name);
    if (backend?.loadGateTrainer === undefined) continue;
    const availability = await backend.isAvailable().catch((error: Error) => ({
      available: false as const,
      reason: error.message,
    }));
    if (availability.available) {
      if (backend.name === 'reference') {
        io.stderr(
          'note: training on the float64 reference backend (no GPU backend can train here): for tiny models\n',
        );
      }
      return backend;
    }
    causes.push({ name: backend.name, reason: availability.reason });
  }
  const detail = causes.map((cause) => `${cause.name}: ${cause.reason}`).join('; ');
  throw new BackendUnavailableError(
    `no backend can train here (${detail || 'none has gate training'})`,
    causes,
  );
}

export async function runTrain(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(argv, TRAIN_OPTIONS, TRAIN_USAGE);
  const outOption = stringOption(args, 'out');
  if (outOption === undefined) throw new UsageError('--out PATTERN_DIR is required', TRAIN_USAGE);
  const isToy = modelDirectory(args) === defaultModelDirectory();
  const defaults = isToy ? TOY_DEFAULTS : ORIGINAL_DEFAULTS;
  const templatesName = stringOption(args, 'templates') ?? defaults.templates;
  const templates = PASSKEY_TEMPLATES[templatesName];
  if (templates === undefined) {
    throw new UsageError(
      `--templates must be ${Object.keys(PASSKEY_TEMPLATES).join(' or ')}, got "${templatesName}"`,
    );
  }
  const maskKind = stringOption(args, 'mask') ?? 'token';
  if (maskKind !== 'token' && maskKind !== 'block')
    throw new UsageError(`--mask must be token or block, got "${maskKind}"`);
  const blockSize = numberOption(args, 'block-size', { integer: true, min: 1 });
  if (blockSize !== undefined && maskKind !== 'block')
    throw new UsageError('--block-size needs --mask block');
  const numSteps = numberOption(args, 'steps', { integer: true, min: 5 }) ?? defaults.steps;
  const lr = numberOption(args, 'lr', { min: 0 }) ?? 0.02;
  const regWeight = numberOption(args, 'reg-weight', { min: 0 }) ?? 0.05;
  const sinkSize = numberOption(args, 'sink', { integer: true, min: 0 }) ?? defaults.sink;
  const recentSize = numberOption(args, 'recent', { integer: true, min: 1 }) ?? defaults.recent;
  const minContext = numberOption(args, 'min-context', { integer: true, min: 1 }) ?? defaults.minContext;
  const maxContext = numberOption(args, 'max-context', { integer: true, min: 1 }) ?? defaults.maxContext;
  if (maxContext < minContext)
    throw new UsageError(`--max-context ${maxContext} is below --min-context ${minContext}`);
  const contextIntervals = numberOption(args, 'context-intervals', { integer: true, min: 1 }) ?? 50;
  const depthIntervals = numberOption(args, 'depth-intervals', { integer: true, min: 1 }) ?? 1000;
  const numPasskeys = numberOption(args, 'passkeys', { integer: true, min: 1, max: 20 }) ?? defaults.passkeys;
  const maxLengthOption = numberOption(args, 'max-length', { integer: true, min: 1 });
  const seed = numberOption(args, 'seed', { integer: true, min: 0 }) ?? 42;
  const checkpointEvery = numberOption(args, 'checkpoint-every', { integer: true, min: 1 }) ?? 50;

  // Everything that can be wrong is checked before the first step: the output, the data, the
  // tokenizer, the initial pattern, the lengths against the model.
  const backend = await trainingBackend(stringOption(args, 'backend'), io);
  const out = await prepareOutputDirectory(outOption);
  const trainingDir = await prepareOutputDirectory(join(out, 'training'), '--out (training state)');
  const haystackDir = stringOption(args, 'haystack-dir');
  const haystack =
    haystackDir !== undefined
      ? await readHaystackDirectory(haystackDir)
      : generateHaystack(maxContext * 8, { seed });
  const model = await openModel(args, io);
  const tokenizer = await openTokenizer(args);
  const { numLayers, numKvHeads, maxPositionEmbeddings } = model.config;
  const initDir = stringOption(args, 'init-pattern');
  const initPattern =
    initDir !== undefined ? await readPattern(initDir, { numLayers, numKvHeads }) : undefined;
  const dataset = new PasskeyDataset({
    tokenizer,
    haystack,
    templates,
    minContext,
    maxContext,
    contextIntervals,
    depthIntervals,
    numPasskeys,
    // Samples fit the model's context: the haystack part of the longest grid points is cut.
    maxLength: Math.min(maxLengthOption ?? maxPositionEmbeddings, maxPositionEmbeddings),
    ...(templatesName === 'toy' ? { sentenceEndIds: sentenceEnds(tokenizer) } : {}),
    padToMultipleOf16: args.values.pad16 === true,
  });
  if (maxLengthOption !== undefined && maxLengthOption > maxPositionEmbeddings) {
    throw new UsageError(
      `--max-length ${maxLengthOption} exceeds the model's context of ${maxPositionEmbeddings}`,
    );
  }
  if (maxContext > maxPositionEmbeddings) {
    throw new UsageError(
      `--max-context ${maxContext} exceeds the model's context of ${maxPositionEmbeddings}`,
    );
  }
  // The longest grid point must keep some haystack once needles and tail are in.
  dataset.sample(dataset.size - 1, createRng(seed));
  const mask = {
    kind: maskKind,
    sinkSize,
    recentSize,
    ...(maskKind === 'block' ? { blockSize: blockSize ?? ORIGINAL_BLOCK_SIZE } : {}),
  } as const;
  const trainer: GateTrainer = await backend.loadGateTrainer!(model, { mask, maxTokens: dataset.maxLength });
  const identity = {
    model: model.directory,
    backend: backend.name,
    mask: maskKind,
    blockSize: mask.kind === 'block' ? (blockSize ?? ORIGINAL_BLOCK_SIZE) : null,
    sinkSize,
    recentSize,
    templates: templatesName,
    haystack: haystackDir ?? 'generated',
    minContext,
    maxContext,
    contextIntervals,
    depthIntervals,
    numPasskeys,
    maxLength: dataset.maxLength,
    pad16: args.values.pad16 === true,
    initPattern: initDir ?? null,
  };
  io.stderr(
    `${backend.name} backend: training ${numLayers} x ${numKvHeads} gates for ${numSteps} steps on ${templatesName}-format samples of ${minContext}-${maxContext} haystack tokens (up to ${dataset.maxLength} in all), sink ${sinkSize}, recent ${recentSize}, ${maskKind} mask\n`,
  );

  const started = performance.now();
  let firstStep: number | undefined;
  const onStep = (record: StepRecord) => {
    firstStep ??= record.step;
    const done = record.step + 1;
    const elapsed = (performance.now() - started) / 1000;
    const rate = elapsed / (done - firstStep!);
    const eta = rate * (numSteps - done);
    const line = `[${done}/${numSteps}] loss ${record.loss.toFixed(5)} (distill ${record.distillationLoss.toExponential(3)}, reg ${record.regLoss.toFixed(4)}) lr ${record.lr.toFixed(4)} ${record.tokens} tokens ${(record.ms / 1000).toFixed(2)} s/step, ~${formatDuration(eta)} left`;
    io.stderr(io.stderrIsTty ? `\r${line}\x1b[K${done === numSteps ? '\n' : ''}` : `${line}\n`);
  };
  const heatmap = async (gates: ArrayLike<number>, step: number) => {
    const matrix = Array.from({ length: numLayers }, (_, l) =>
      Array.from({ length: numKvHeads }, (_, h) => Math.min(1, Math.max(0, gates[l * numKvHeads + h]!))),
    );
    await writeFileAtomic(
      join(trainingDir, `gates-step-${String(step).padStart(5, '0')}.png`),
      renderHeatmapPng(matrix, { title: `gates after ${step} steps`, xLabel: 'KV head', yLabel: 'layer' }),
    );
  };
  let result: Awaited<ReturnType<typeof trainGates>>;
  try {
    result = await trainGates({
      trainer,
      samples: dataset,
      numSteps,
      lr,
      regWeight,
      seed,
      checkpointEvery,
      checkpointPath: join(trainingDir, 'checkpoint.json'),
      identity,
      ...(initPattern !== undefined ? { initialGates: initPattern.alpha.flat() } : {}),
      onStep,
      onCheckpoint: (state) => heatmap(state.gates, state.step),
      ...(signal !== undefined ? { signal } : {}),
    });
  } finally {
    await trainer.dispose();
  }
  if (result.resumedFrom > 0) io.stderr(`(resumed from step ${result.resumedFrom})\n`);
  if (!result.complete) {
    throw new InterruptedError(
      `training interrupted after ${result.state.step} of ${numSteps} steps; ${join(trainingDir, 'checkpoint.json')} holds them: run the same command to continue`,
    );
  }
  const pattern = await writeTrainedPattern(out, result.state.gates, numLayers, numKvHeads, {
    // The bundled model by name, so a pattern trained on it reads the same on every machine.
    modelName: isToy ? 'toy-retrieval' : model.directory,
    dataset: haystackDir ?? 'generated',
    sinkSize,
    recentSize,
    lr,
    numSteps,
    regWeight,
    initialValue: 1,
    maxLength: dataset.maxLength,
    minContext,
    maxContext,
    contextIntervals,
    depthIntervals,
    minDepth: 0.05,
    maxDepth: 0.95,
    numPasskeys,
    seed,
    checkpointEvery,
    mask: maskKind,
    ...(maskKind === 'block' ? { blockSize: blockSize ?? ORIGINAL_BLOCK_SIZE } : {}),
    templates: templatesName,
    backend: backend.name,
  });
  const history = result.state.history;
  const seconds = history.reduce((sum, r) => sum + r.ms, 0) / 1000;
  const summary = {
    out,
    backend: backend.name,
    steps: numSteps,
    resumedFrom: result.resumedFrom,
    finalLoss: history.at(-1)?.loss ?? null,
    meanStepSeconds: history.length > 0 ? seconds / history.length : null,
    meanGate: pattern.alpha.flat().reduce((a, b) => a + b, 0) / (numLayers * numKvHeads),
    gates: pattern.alpha,
  };
  if (args.values.json) printJson(io, summary);
  else {
    io.stdout(
      `wrote ${out}: ${numLayers} x ${numKvHeads} gates after ${numSteps} steps (final loss ${summary.finalLoss?.toFixed(5)}, mean gate ${summary.meanGate.toFixed(3)}); use it with --pattern ${out} --sparsity S\n`,
    );
  }
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
