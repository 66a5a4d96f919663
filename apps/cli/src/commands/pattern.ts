// `duo pattern ...`: inspect, sparsify, measure, plot and create attention-pattern directories.
// Output contract: human text by default; with --json exactly one JSON document on stdout.
import { extname, resolve } from 'node:path';
import { writeFileAtomic } from '@duo-attn/core';
import {
  type AttentionPattern,
  createPattern,
  generatePattern,
  KV_DTYPES,
  type KvDtype,
  patternStatistics,
  readPattern,
  renderHeatmapPng,
  renderHeatmapSvg,
  type SparsifyOptions,
  type SparsifyResult,
  sparsify,
  writePattern,
} from '@duo-attn/patterns';
import {
  numberOption,
  type OptionSpec,
  onePositional,
  type ParsedArgs,
  parseCommandArgs,
  stringOption,
  UsageError,
} from '../cli-args.js';
import { type CliIo, formatBytes, formatTable, printJson } from '../cli-io.js';
import { prepareOutputFile } from '../output-path.js';

export const PATTERN_USAGE = `Usage:
  duo pattern show DIR [--json]
  duo pattern sparsify DIR (--sparsity S | --threshold T) [--seed N] [--out DIR] [--json]
  duo pattern stats DIR [--sparsity S | --threshold T] [--seed N] [--head-dim D] [--dtype bf16|fp16|fp32|int4] [--json]
  duo pattern plot DIR --out FILE.svg|FILE.png [--mask [--sparsity S | --threshold T] [--seed N]]
  duo pattern create --out DIR --layers L --kv-heads H [--fill V | --seed N] [--sink N] [--recent N] [--json]

A pattern directory holds config.json and full_attention_heads.tsv, as the original DuoAttention
writes them. Gates are clipped to [0, 1] on load. --sparsity is the fraction of streaming heads
(ties broken by numpy-compatible noise from --seed, default 42); --threshold keeps gates >= T.
stats and plot --mask binarise with --sparsity 0.5 unless told otherwise; stats counts KV bytes with
--head-dim 128 and --dtype bf16 unless told otherwise.
`;

const MASK_OPTIONS: OptionSpec = {
  sparsity: { type: 'string' },
  threshold: { type: 'string' },
  seed: { type: 'string' },
};

/** Runs `duo pattern <subcommand> ...`. */
export async function runPatternCommand(argv: readonly string[], io: CliIo): Promise<void> {
  const [subcommand, ...rest] = argv;
  switch (subcommand) {
    case 'show':
      return show(rest, io);
    case 'sparsify':
      return sparsifyCommand(rest, io);
    case 'stats':
      return stats(rest, io);
    case 'plot':
      return plot(rest, io);
    case 'create':
      return create(rest, io);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      io.stdout(PATTERN_USAGE);
      return;
    default:
      throw new UsageError(`unknown pattern command "${subcommand}"`, PATTERN_USAGE);
  }
}

async function show(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(argv, { json: { type: 'boolean' } }, PATTERN_USAGE);
  const dir = onePositional(args, 'pattern directory', PATTERN_USAGE);
  const pattern = await readPattern(dir);
  if (args.values.json) {
    printJson(io, {
      directory: resolve(dir),
      numLayers: pattern.numLayers,
      numKvHeads: pattern.numKvHeads,
      sinkSize: pattern.sinkSize,
      recentSize: pattern.recentSize,
      alpha: pattern.alpha,
    });
    return;
  }
  io.stdout(
    `${resolve(dir)}\n${pattern.numLayers} layers x ${pattern.numKvHeads} KV heads, sink ${pattern.sinkSize}, recent ${pattern.recentSize}\n\n`,
  );
  const header = ['layer', ...Array.from({ length: pattern.numKvHeads }, (_, h) => `h${h}`)];
  io.stdout(
    formatTable([header, ...pattern.alpha.map((row, l) => [String(l), ...row.map((v) => v.toFixed(3))])]),
  );
}

async function sparsifyCommand(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(
    argv,
    { ...MASK_OPTIONS, out: { type: 'string' }, json: { type: 'boolean' } },
    PATTERN_USAGE,
  );
  const dir = onePositional(args, 'pattern directory', PATTERN_USAGE);
  const options = maskOptions(args, true);
  const pattern = await readPattern(dir);
  const result = sparsify(pattern.alpha, options);
  const out = stringOption(args, 'out');
  if (out !== undefined) {
    // The mask becomes a pattern of 0/1 gates, so it binarises to itself at threshold 0.5.
    await writePattern(
      out,
      createPattern({
        alpha: result.mask,
        sinkSize: pattern.sinkSize,
        recentSize: pattern.recentSize,
        config: pattern.config,
      }),
    );
  }
  if (args.values.json) {
    printJson(io, {
      sparsity: result.sparsity,
      retrievalHeads: result.retrievalHeads,
      threshold: result.threshold,
      mask: result.mask,
      ...(out !== undefined ? { out: resolve(out) } : {}),
    });
    return;
  }
  io.stdout(describeMask(pattern, result, options));
  io.stdout(result.mask.map((row, l) => `layer ${String(l).padStart(3)}  ${row.join('')}\n`).join(''));
  if (out !== undefined) io.stdout(`wrote ${resolve(out)}\n`);
}

async function stats(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(
    argv,
    { ...MASK_OPTIONS, 'head-dim': { type: 'string' }, dtype: { type: 'string' }, json: { type: 'boolean' } },
    PATTERN_USAGE,
  );
  const dir = onePositional(args, 'pattern directory', PATTERN_USAGE);
  const options = maskOptions(args, false);
  const headDim = numberOption(args, 'head-dim', { integer: true, min: 1 }) ?? 128;
  const dtype = stringOption(args, 'dtype') ?? 'bf16';
  if (!KV_DTYPES.includes(dtype as KvDtype)) {
    throw new UsageError(`--dtype must be one of ${KV_DTYPES.join(', ')}, got "${dtype}"`);
  }
  const pattern = await readPattern(dir);
  const result = sparsify(pattern.alpha, options);
  const statistics = patternStatistics(pattern.alpha, result.mask, {
    headDim,
    dtype: dtype as KvDtype,
    sinkSize: pattern.sinkSize,
    recentSize: pattern.recentSize,
  });
  if (args.values.json) {
    printJson(io, {
      ...statistics,
      sinkSize: pattern.sinkSize,
      recentSize: pattern.recentSize,
      binarisedBy: options,
      threshold: result.threshold,
    });
    return;
  }
  io.stdout(describeMask(pattern, result, options));
  io.stdout(
    formatTable([
      ['retrieval heads per layer', statistics.retrievalHeadsPerLayer.join(',')],
      ['retrieval ratio', `${(statistics.retrievalRatio * 100).toFixed(2)}%`],
      ['mean gate', statistics.meanAlpha.toFixed(4)],
      [`KV bytes/token, full (${dtype}, head dim ${headDim})`, formatBytes(statistics.fullKvBytesPerToken)],
      ['KV bytes/token, this mask', formatBytes(statistics.policyKvBytesPerToken)],
      ['relative to full attention', `${statistics.relativeKvBytesPerToken.toFixed(4)}x`],
      [
        `streaming heads' constant KV (sink ${pattern.sinkSize} + recent ${pattern.recentSize})`,
        formatBytes(statistics.streamingKvBytes),
      ],
    ]),
  );
}

async function plot(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(
    argv,
    { ...MASK_OPTIONS, out: { type: 'string' }, mask: { type: 'boolean' } },
    PATTERN_USAGE,
  );
  const dir = onePositional(args, 'pattern directory', PATTERN_USAGE);
  const out = stringOption(args, 'out');
  if (out === undefined) throw new UsageError('plot needs --out FILE.svg or FILE.png', PATTERN_USAGE);
  const format = extname(out).toLowerCase();
  if (format !== '.svg' && format !== '.png')
    throw new UsageError(`--out must end in .svg or .png, got "${out}"`);
  if (!args.values.mask && (args.values.sparsity !== undefined || args.values.threshold !== undefined)) {
    throw new UsageError('--sparsity/--threshold only apply with --mask');
  }
  const file = await prepareOutputFile(out);
  const pattern = await readPattern(dir);
  const matrix = args.values.mask ? sparsify(pattern.alpha, maskOptions(args, false)).mask : pattern.alpha;
  const heatmap = {
    title: args.values.mask ? 'Retrieval heads (1) and streaming heads (0)' : 'Gate alpha per KV head',
    xLabel: 'KV head',
    yLabel: 'layer',
  };
  await writeFileAtomic(
    file,
    format === '.svg' ? renderHeatmapSvg(matrix, heatmap) : renderHeatmapPng(matrix, heatmap),
  );
  io.stderr(`wrote ${file}\n`);
}

async function create(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      out: { type: 'string' },
      layers: { type: 'string' },
      'kv-heads': { type: 'string' },
      fill: { type: 'string' },
      seed: { type: 'string' },
      sink: { type: 'string' },
      recent: { type: 'string' },
      json: { type: 'boolean' },
    },
    PATTERN_USAGE,
  );
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument "${args.positionals[0]}"`, PATTERN_USAGE);
  const out = stringOption(args, 'out');
  const numLayers = numberOption(args, 'layers', { integer: true, min: 1 });
  const numKvHeads = numberOption(args, 'kv-heads', { integer: true, min: 1 });
  if (out === undefined || numLayers === undefined || numKvHeads === undefined) {
    throw new UsageError('create needs --out, --layers and --kv-heads', PATTERN_USAGE);
  }
  const fill = numberOption(args, 'fill', { min: 0, max: 1 });
  const seed = numberOption(args, 'seed', { integer: true, min: 0, max: 0xffffffff });
  if (fill !== undefined && seed !== undefined) throw new UsageError('give --fill or --seed, not both');
  const sinkSize = numberOption(args, 'sink', { integer: true, min: 0 });
  const recentSize = numberOption(args, 'recent', { integer: true, min: 0 });
  const pattern = generatePattern({
    numLayers,
    numKvHeads,
    ...(fill !== undefined ? { fill } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(sinkSize !== undefined ? { sinkSize } : {}),
    ...(recentSize !== undefined ? { recentSize } : {}),
  });
  await writePattern(out, pattern);
  if (args.values.json) {
    printJson(io, {
      out: resolve(out),
      numLayers,
      numKvHeads,
      sinkSize: pattern.sinkSize,
      recentSize: pattern.recentSize,
      generator: pattern.config.generator,
    });
    return;
  }
  io.stdout(
    `wrote ${resolve(out)}: ${numLayers} layers x ${numKvHeads} KV heads (${String(pattern.config.generator)}; not a trained pattern)\n`,
  );
}

function maskOptions(args: ParsedArgs, required: boolean): SparsifyOptions {
  const sparsity = numberOption(args, 'sparsity', { min: 0, max: 1 });
  const threshold = numberOption(args, 'threshold', { min: 0, max: 1 });
  const seed = numberOption(args, 'seed', { integer: true, min: 0, max: 0xffffffff });
  if (sparsity !== undefined && threshold !== undefined)
    throw new UsageError('give --sparsity or --threshold, not both');
  if (threshold !== undefined) {
    if (seed !== undefined) throw new UsageError('--seed only applies with --sparsity');
    return { threshold };
  }
  if (sparsity === undefined && required)
    throw new UsageError('sparsify needs --sparsity S or --threshold T', PATTERN_USAGE);
  return { sparsity: sparsity ?? 0.5, ...(seed !== undefined ? { seed } : {}) };
}

function describeMask(pattern: AttentionPattern, result: SparsifyResult, options: SparsifyOptions): string {
  const total = pattern.numLayers * pattern.numKvHeads;
  const how =
    options.threshold !== undefined
      ? `threshold ${options.threshold}`
      : `sparsity ${options.sparsity} (seed ${options.seed ?? 42})`;
  return `${result.retrievalHeads} of ${total} KV heads are retrieval heads (achieved sparsity ${result.sparsity.toFixed(4)}, by ${how}, gate threshold ${result.threshold})\n`;
}
