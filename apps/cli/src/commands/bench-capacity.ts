// `duo bench capacity`: the largest context that fits and decodes, per combination of weight format,
// KV cache dtype and policy, on any backend: planned by the memory planner, verified by loading,
// filling and decoding (packages/eval's benchmarkCapacity). Progress on stderr, a table on stdout,
// --json for the whole report, --out DIR for results.json (written atomically).
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  type Backend,
  DuoError,
  fullPolicy,
  KV_CACHE_DTYPES,
  measureMatmulFloor,
  planMemory,
  type WeightFormat,
  writeFilesAtomically,
} from '@duo-attn/core';
import {
  benchmarkCapacity,
  capacityCombinations,
  DEFAULT_HEADROOM_FRACTION,
  MODEL_SHAPES,
} from '@duo-attn/eval';
import { cudaAvailability, measureCopyBandwidth } from '@duo-attn/kernels-cuda';
import { numberOption, type ParsedArgs, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, formatBytes, printJson } from '../cli-io.js';
import { parseIdList } from '../id-list.js';
import { prepareOutputDirectory } from '../output-path.js';
import { formatCapacityTable } from './bench-capacity-table.js';
import {
  benchBackend,
  benchCommonOptions,
  benchPolicy,
  loadBenchExecutor,
  openBenchModel,
} from './bench-model.js';

export const BENCH_CAPACITY_USAGE = `Usage: duo bench capacity (--model DIR | --shape NAME) [--backend NAME] [--threads N]
         [--weights float,w8a8] [--kv-dtype fp32,bf16,fp16,int4] [--policy full,streaming,duo:R,...]...
         [--pattern DIR] [--sink N] [--recent N] [--memory GiB] [--headroom GiB]
         [--at 1048576,...] [--steps N] [--warmup N] [--resolution N] [--seed N] [--out DIR] [--json]

The largest context one sequence can hold and still decode, for every combination of --weights,
--kv-dtype and --policy (each a comma list, or repeated). For each, the memory planner's figure for
the budget less the headroom is verified: an executor of that many tokens is loaded, its cache filled
with random keys/values, and --warmup + --steps decode steps run (so the largest context timed is the
verified figure less those steps). A load that runs out of memory, or an executor whose own report of
weights + KV caches exceeds the budget less the headroom, steps the search down (by 1%, 2%, 4%, ... of
the planned figure until one fits, then bisecting to --resolution tokens); both figures are reported.
Decode ms/token is timed at the largest context and at each --at context that fits; on cuda each
figure has its floor, (weight bytes + KV bytes read) / the copy bandwidth measured in the same run; on
cpu the onnxruntime matmul-only floor is printed (weights only: no attention, no KV reads); the
reference backend has none. Combinations the backend cannot run are listed with its reason; one that
fails otherwise is reported with its error, the others still run, and the exit status is 1.

--memory GiB      the budget (default on cuda: the device's total memory; required on cpu and
                  reference, which have no device memory of their own)
--headroom GiB    kept out of the budget for what is not weights or KV caches: the CUDA context, the
                  32 MiB cuBLASLt workspace, decode-attention and sampling workspaces, one token's
                  activations and logits (on cuda the executor's scratch must fit in it); default
                  ${DEFAULT_HEADROOM_FRACTION * 100}% of the budget
--weights         default the model's own: float, or w8a8 for a directory written by \`duo quantize\`
--kv-dtype        default the backend's own (fp32 on cpu/reference, bf16 on cuda)
--policy          default full,duo:0.5; duo:R keeps a fraction R of KV heads as retrieval heads, from
                  --pattern DIR (sparsified) or a synthetic pattern of --seed for random weights
Defaults: --steps 4, --warmup 1, --seed 0, --sink 64, --recent 256, --resolution 0.1% of the planned
figure, no --at contexts. Shapes (random weights): ${Object.keys(MODEL_SHAPES).join(', ')}.
`;

const WEIGHT_FORMATS: readonly WeightFormat[] = ['float', 'w8a8'];

export async function runBenchCapacity(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      shape: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      weights: { type: 'string', multiple: true },
      'kv-dtype': { type: 'string', multiple: true },
      policy: { type: 'string', multiple: true },
      pattern: { type: 'string' },
      sink: { type: 'string' },
      recent: { type: 'string' },
      memory: { type: 'string' },
      headroom: { type: 'string' },
      at: { type: 'string' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      resolution: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
    },
    BENCH_CAPACITY_USAGE,
  );
  const common = benchCommonOptions(args, BENCH_CAPACITY_USAGE);
  const { modelDir, shape, seed, sinkSize, recentSize, threads, patternDir } = common;
  const steps = numberOption(args, 'steps', { integer: true, min: 1 }) ?? 4;
  const warmup = numberOption(args, 'warmup', { integer: true, min: 0 }) ?? 1;
  const resolution = numberOption(args, 'resolution', { integer: true, min: 1 });
  const memoryGiB = positiveGiB(args, 'memory');
  const headroomGiB = numberOption(args, 'headroom', { min: 0 });
  const atText = stringOption(args, 'at');
  const at = atText === undefined ? [] : parseIdList(atText, '--at');
  if (at.includes(0)) throw new UsageError('--at: contexts must be at least 1 token');
  const weightNames = listOption(args, 'weights', WEIGHT_FORMATS);
  const kvNames = listOption(args, 'kv-dtype', KV_CACHE_DTYPES);
  const policyNames = listOption(args, 'policy') ?? ['full', 'duo:0.5'];
  const outOption = stringOption(args, 'out');
  // Checked before measuring: a benchmark must never run and then fail to save.
  const out = outOption !== undefined ? await prepareOutputDirectory(outOption) : undefined;

  io.stderr(`preparing ${modelDir ?? `random ${shape} weights`}\n`);
  const model = await openBenchModel({
    ...(modelDir !== undefined ? { modelDir } : { shape: shape! }),
    seed,
    ...(patternDir !== undefined ? { patternDir } : {}),
  });
  const weights = weightNames ?? [model.quantizedCheckpoint ? 'w8a8' : 'float'];
  if (model.quantizedCheckpoint && weights.includes('float')) {
    throw new UsageError(`${modelDir} is a quantized (W8A8) checkpoint; --weights float needs a float model`);
  }
  const { config, gates } = model;
  // Every policy is built once now, so a bad --policy fails before any measuring.
  for (const name of policyNames) benchPolicy(name, config, gates, sinkSize, recentSize);

  const backend = await benchBackend(common);
  const kvDtypes = kvNames ?? [backend.capabilities.kvCacheDtypes[0] ?? 'fp32'];
  const device = await deviceMemory(backend);
  const memoryBytes =
    memoryGiB !== undefined ? Math.floor(memoryGiB * 2 ** 30) : (device?.totalMemoryBytes ?? undefined);
  if (memoryBytes === undefined) {
    throw new UsageError(
      `--memory GiB is required on the ${backend.name} backend, which has no device memory of its own (the budget to plan for, e.g. --memory 4)`,
      BENCH_CAPACITY_USAGE,
    );
  }
  const headroomBytes =
    headroomGiB !== undefined
      ? Math.floor(headroomGiB * 2 ** 30)
      : Math.floor(memoryBytes * DEFAULT_HEADROOM_FRACTION);
  if (headroomBytes >= memoryBytes) {
    throw new UsageError(
      `--headroom (${formatBytes(headroomBytes)}) must be below the budget (${formatBytes(memoryBytes)})`,
    );
  }
  io.stderr(
    `${backend.name} backend, budget ${formatBytes(memoryBytes)}${memoryGiB === undefined ? ` (${device?.name ?? 'device'} total)` : ''}, headroom ${formatBytes(headroomBytes)}\n`,
  );

  // The floor of a decode step on the GPU: weight + KV bytes read over the copy bandwidth, measured now.
  const bandwidth = backend.name === 'cuda' ? await measureCopyBandwidth({ device: 0 }) : undefined;
  const rows = await benchmarkCapacity({
    backend,
    config,
    combinations: capacityCombinations(weights, kvDtypes, policyNames),
    policyFor: (name, kvDtype) => ({
      ...benchPolicy(name, config, gates, sinkSize, recentSize),
      cacheDtype: kvDtype,
    }),
    load: (format, policy, maxTokens) => loadBenchExecutor(backend, model, format, policy, maxTokens),
    memoryBytes,
    headroomBytes,
    at,
    steps,
    warmup,
    seed,
    ...(resolution !== undefined ? { resolution } : {}),
    ...(bandwidth !== undefined ? { copyBandwidthBytesPerSecond: bandwidth.bytesPerSecond } : {}),
    onProgress: (message) => io.stderr(`  ${message}\n`),
  });
  // On cpu, onnxruntime's time for the weight matmuls alone: a floor for float weights that leaves
  // out attention and KV reads (there is no bandwidth floor on the host).
  const matmulFloor =
    backend.name === 'cpu' && weights.includes('float')
      ? await measureMatmulFloor(model.hostWeights('float'), {
          threads: threads ?? Math.max(1, cpus().length),
        })
      : undefined;
  const report = {
    command: `duo bench capacity ${argv.join(' ')}`,
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryBytes: totalmem(),
      node: process.version,
      ...(device !== undefined ? { device: device.name, deviceMemoryBytes: device.totalMemoryBytes } : {}),
    },
    backend: backend.name,
    model: model.label,
    parameters: planMemory(config, fullPolicy(config), { weightDtype: 'fp32' }).parameterCount,
    sinkSize,
    recentSize,
    memoryBytes,
    memorySource: memoryGiB !== undefined ? '--memory' : 'device',
    headroomBytes,
    steps,
    warmup,
    ...(bandwidth !== undefined ? { copyBandwidth: bandwidth } : {}),
    ...(matmulFloor !== undefined ? { matmulFloor } : {}),
    rows,
  };
  if (out !== undefined) {
    await writeFilesAtomically([
      { path: join(out, 'results.json'), data: `${JSON.stringify(report, null, 2)}\n` },
    ]);
    io.stderr(`wrote ${out}: results.json\n`);
  }
  if (args.values.json) printJson(io, report);
  else io.stdout(formatCapacityTable(report));
  // Reported above with the rest; the exit status says a figure is missing.
  const failed = rows.filter((row) => row.status === 'failed');
  if (failed.length > 0) {
    throw new DuoError(
      'E_BENCH_FAILED',
      `${failed.length} of ${rows.length} combinations failed: ${failed.map((r) => `${r.weights}/${r.kvDtype}/${r.policy}: ${r.reason}`).join('; ')}`,
    );
  }
}

/** A budget option in GiB, which must be positive. */
function positiveGiB(args: ParsedArgs, name: string): number | undefined {
  const value = numberOption(args, name, { min: 0 });
  if (value === 0) throw new UsageError(`--${name} must be above 0 GiB`);
  return value;
}

/**
 * A list option given as comma lists and/or repeated (`--policy full,duo:0.5 --policy duo:0.25`),
 * each element checked against `allowed` when given; undefined when absent.
 */
function listOption<T extends string>(
  args: ParsedArgs,
  name: string,
  allowed?: readonly T[],
): T[] | undefined {
  const values = args.values[name] as string[] | undefined;
  if (values === undefined) return undefined;
  const items = values.flatMap((value) => value.split(',')).map((item) => item.trim());
  for (const item of items) {
    if (item === '') throw new UsageError(`--${name} has an empty element ("${values.join(',')}")`);
    if (allowed !== undefined && !allowed.includes(item as T)) {
      throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${item}"`);
    }
  }
  const repeated = items.find((item, index) => items.indexOf(item) !== index);
  if (repeated !== undefined) throw new UsageError(`--${name} names "${repeated}" twice`);
  return items as T[];
}

/** The device the backend runs on and its memory, when it has one (cuda). */
async function deviceMemory(
  backend: Backend,
): Promise<{ name: string; totalMemoryBytes: number } | undefined> {
  const fromCapabilities = backend.capabilities.deviceMemoryBytes;
  if (fromCapabilities !== undefined) return { name: backend.name, totalMemoryBytes: fromCapabilities };
  if (backend.name !== 'cuda') return undefined;
  const availability = await cudaAvailability();
  if (!availability.available) return undefined;
  const index = (backend as { device?: number }).device ?? 0;
  const found = availability.devices.find((candidate) => candidate.index === index);
  return found === undefined ? undefined : { name: found.name, totalMemoryBytes: found.totalMemoryBytes };
}
