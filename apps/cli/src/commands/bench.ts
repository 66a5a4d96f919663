// `duo bench decode|prefill|memory`: latency and KV memory of full attention vs DuoAttention vs
// streaming-only on any backend, on a model directory or a named shape with random weights
// (`duo bench capacity` is in bench-capacity.ts). Prints JSON with the machine, the date and the
// command, ready for docs/benchmarks.md.
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  fullPolicy,
  type MatmulFloor,
  measureMatmulFloor,
  planMemory,
  type WeightFormat,
  writeFilesAtomically,
} from '@duo-attn/core';
import {
  benchmarkDecode,
  benchmarkPrefill,
  MODEL_SHAPES,
  plannedWeightDtype,
  renderLineChartSvg,
} from '@duo-attn/eval';
import { measureCopyBandwidth } from '@duo-attn/kernels-cuda';
import { numberOption, parseCommandArgs, stringOption, UsageError } from '../cli-args.js';
import { type CliIo, printJson } from '../cli-io.js';
import { parseIdList } from '../id-list.js';
import { kvDtypeOption, policyWithKvDtype, weightsOption } from '../model-options.js';
import { prepareOutputDirectory } from '../output-path.js';
import { BENCH_CAPACITY_USAGE, runBenchCapacity } from './bench-capacity.js';
import {
  benchBackend,
  benchCommonOptions,
  benchPolicy,
  loadBenchExecutor,
  openBenchModel,
} from './bench-model.js';
import { formatBenchTable } from './bench-table.js';

export const BENCH_USAGE = `Usage: duo bench decode|prefill|memory (--model DIR | --shape NAME) [--backend NAME] [--threads N]
         [--policy full|streaming|duo:R]... [--pattern DIR] [--sink N] [--recent N]
         [--contexts 1024,4096,...] [--steps N] [--prompt-length N] [--chunks 128,256,...] [--seed N] [--out DIR] [--json]
         [--kv-dtype fp32|bf16|fp16|int4] [--weights float|w8a8] [--batch 1,8,32]

decode   ms/token at each context (cache pre-filled with random keys/values), KV bytes measured vs
         the memory planner's prediction; on the cpu backend also onnxruntime's matmul-only floor, on
         cuda each figure's bandwidth floor (weight + KV bytes over the measured copy bandwidth);
         --batch B,... decodes B sequences at each context together, one batched pass per step
         (continuous batching; cpu and reference backends, cuda with DUO_CUDA_BATCH=1 until verified on a
         GPU), tokens/s counting all of them, and on cpu
         the matmul floor of a B-row pass
prefill  tokens/s for a --prompt-length prompt fed in chunks of each --chunks size
memory   KV bytes and process memory at each context, no timing
Policies (repeatable, default full, duo:0.5, streaming): duo:R keeps a fraction R of KV heads as
retrieval heads, chosen from --pattern DIR (sparsified) or, for random weights, from a synthetic
pattern. Prints a table; --json prints the whole report (machine, date, command, every figure) as JSON.
--out DIR writes results.json and a plot (SVG). Shapes (random weights): ${Object.keys(MODEL_SHAPES).join(', ')}.
Defaults: --contexts 1024,4096, --steps 8, --prompt-length 1024, --chunks 128,256,512,1024, --batch 1, --seed 0,
--sink 64, --recent 256, --threads all cores (cpu backend).
Backends: the best available by default (cuda when a GPU and the built addon are there, else cpu);
--backend cpu|cuda|reference picks one. On cuda, KV caches are bf16 and --shape weights are made on the GPU.
--kv-dtype names the KV cache dtype (default the backend's own; int4 runs on the reference backend only);
--weights w8a8 quantizes the weights at load (int8 per output channel, int8 activations per token; a
--model written by \`duo quantize\` is W8A8 already), on the reference and cpu backends for now.

${BENCH_CAPACITY_USAGE}`;

export async function runBench(argv: readonly string[], io: CliIo): Promise<void> {
  const [mode, ...rest] = argv;
  if (mode === 'capacity') return runBenchCapacity(rest, io);
  if (mode !== 'decode' && mode !== 'prefill' && mode !== 'memory') {
    throw new UsageError(
      mode === undefined ? 'missing bench mode' : `unknown bench mode "${mode}"`,
      BENCH_USAGE,
    );
  }
  const args = parseCommandArgs(
    rest,
    {
      model: { type: 'string' },
      shape: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      policy: { type: 'string', multiple: true },
      pattern: { type: 'string' },
      sink: { type: 'string' },
      recent: { type: 'string' },
      contexts: { type: 'string' },
      steps: { type: 'string' },
      'prompt-length': { type: 'string' },
      chunks: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      'kv-dtype': { type: 'string' },
      weights: { type: 'string' },
      batch: { type: 'string' },
      json: { type: 'boolean' },
    },
    BENCH_USAGE,
  );
  const common = benchCommonOptions(args, BENCH_USAGE);
  const { modelDir, shape, seed, sinkSize, recentSize, threads, patternDir } = common;
  const contexts = parseIdList(stringOption(args, 'contexts') ?? '1024,4096', '--contexts');
  const steps = numberOption(args, 'steps', { integer: true, min: 1 }) ?? 8;
  const promptLength = numberOption(args, 'prompt-length', { integer: true, min: 1 }) ?? 1024;
  const chunks = parseIdList(stringOption(args, 'chunks') ?? '128,256,512,1024', '--chunks');
  const batches = parseIdList(stringOption(args, 'batch') ?? '1', '--batch');
  if (batches.some((batch) => batch < 1))
    throw new UsageError('--batch sizes must be at least 1', BENCH_USAGE);
  if (mode !== 'decode' && batches.some((batch) => batch > 1)) {
    throw new UsageError('--batch applies to duo bench decode only', BENCH_USAGE);
  }
  const policyNames = (args.values.policy as string[] | undefined) ?? ['full', 'duo:0.5', 'streaming'];
  const outOption = stringOption(args, 'out');
  // Checked before measuring: a benchmark must never run and then fail to save.
  const out = outOption !== undefined ? await prepareOutputDirectory(outOption) : undefined;

  io.stderr(`preparing ${modelDir ?? `random ${shape} weights`}\n`);
  const kvDtype = kvDtypeOption(args);
  const weights = weightsOption(args);
  const model = await openBenchModel({
    ...(modelDir !== undefined ? { modelDir } : { shape: shape! }),
    seed,
    ...(patternDir !== undefined ? { patternDir } : {}),
  });
  if (model.quantizedCheckpoint && weights === 'float') {
    throw new UsageError(`${modelDir} is a quantized (W8A8) checkpoint; --weights float needs a float model`);
  }
  const w8a8 = model.quantizedCheckpoint || weights === 'w8a8';
  const format: WeightFormat = w8a8 ? 'w8a8' : 'float';
  const { config, gates } = model;
  const backend = await benchBackend(common);
  const policies = policyNames.map((name) => ({
    name,
    policy: policyWithKvDtype(benchPolicy(name, config, gates, sinkSize, recentSize), backend, kvDtype),
  }));
  const maxTokens = Math.max(...contexts, promptLength) + steps + 8;
  // On the GPU, decode is bounded by memory bandwidth: each step's floor is (weight bytes + KV bytes
  // read) over the device's copy bandwidth, measured here in the same run.
  const bandwidth =
    mode === 'decode' && backend.name === 'cuda' ? await measureCopyBandwidth({ device: 0 }) : undefined;
  const results: {
    policy: string;
    retrievalKvHeads?: number;
    streamingKvHeads?: number;
    prefill?: { chunkSize: number; tokensPerSecond: number }[];
    decode?: { context: number; batch?: number; msPerToken?: number; kvBytesUsed: number }[];
  }[] = [];
  for (const { name, policy } of policies) {
    io.stderr(`${backend.name} backend, policy ${name}\n`);
    const executor = await loadBenchExecutor(backend, model, format, policy, maxTokens, Math.max(...batches));
    try {
      if (Math.max(...batches) > 1 && executor.forwardBatch === undefined) {
        throw new UsageError(
          backend.name === 'cuda'
            ? 'the cuda batched decode pass is opt-in until verified on a GPU: set DUO_CUDA_BATCH=1 for --batch'
            : `the ${backend.name} backend has no batched decode; --batch needs cpu, reference or cuda`,
          BENCH_USAGE,
        );
      }
      const { weightBytes } = executor.memory();
      const plan = planMemory(config, policy, {
        weightDtype: plannedWeightDtype(format, backend.capabilities),
      });
      if (mode === 'prefill') {
        const measurements = await benchmarkPrefill(executor, {
          promptLength,
          chunkSizes: chunks,
          onProgress: (message) => io.stderr(`  ${message}\n`),
        });
        results.push({ policy: name, prefill: measurements });
        continue;
      }
      const measurements: Awaited<ReturnType<typeof benchmarkDecode>> = [];
      for (const batch of batches) {
        measurements.push(
          ...(await benchmarkDecode(executor, {
            contexts,
            steps: mode === 'memory' ? 1 : steps,
            warmup: mode === 'memory' ? 0 : 2,
            seed,
            batch,
            onProgress: (message) => io.stderr(`  ${message}\n`),
          })),
        );
      }
      results.push({
        policy: name,
        retrievalKvHeads: plan.policy.retrievalKvHeads,
        streamingKvHeads: plan.policy.streamingKvHeads,
        decode: measurements.map((m) => {
          const predicted =
            plan.policy.kvBytesPerToken * m.context +
            Math.min(1, m.context / (sinkSize + recentSize || 1)) * plan.policy.streamingKvBytes;
          const { msPerToken, minMsPerToken, tokensPerSecond, ...memory } = m;
          const floorMs =
            bandwidth === undefined
              ? undefined
              : ((weightBytes + m.kvBytesUsed) / bandwidth.bytesPerSecond) * 1e3;
          // kvBytesUsed counts every sequence of the batch; the planner's prediction is per sequence.
          const perSequence = m.kvBytesUsed / m.batch;
          return {
            ...(mode === 'memory' ? memory : m),
            ...(floorMs === undefined ? {} : { floorMs, ratioToFloor: m.msPerToken / floorMs }),
            kvBytesPredicted: Math.round(predicted),
            kvMeasuredOverPredicted: predicted === 0 ? null : perSequence / predicted,
          };
        }),
      });
    } finally {
      await executor.dispose();
    }
  }
  // The floor measures float matmuls: one per batch size (rows = sequences per pass).
  let floors: MatmulFloor[] | undefined;
  if (mode === 'decode' && backend.name === 'cpu' && !w8a8) {
    floors = [];
    // One after another: the floors are timings.
    for (const rows of batches) {
      floors.push(
        await measureMatmulFloor(model.hostWeights('float'), {
          threads: threads ?? Math.max(1, cpus().length),
          rows,
          // Many short runs: a median of 20 swung by 2x on a shared 2-core machine.
          repetitions: 100,
          warmup: 10,
        }),
      );
    }
  }
  const floor = floors?.[0];
  if (floors !== undefined) {
    // On cpu each decode figure is set against the matmul floor of a pass of its batch size.
    const measured = floors;
    for (const result of results) {
      result.decode = result.decode?.map((m) => {
        const rowsFloor = measured.find((f) => f.rows === (m.batch ?? 1));
        return rowsFloor === undefined || m.msPerToken === undefined
          ? m
          : { ...m, floorMs: rowsFloor.medianMs, ratioToFloor: m.msPerToken / rowsFloor.medianMs };
      });
    }
  }
  const report = {
    command: `duo bench ${argv.join(' ')}`,
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryBytes: totalmem(),
      node: process.version,
    },
    backend: backend.name,
    model: model.label,
    parameters: planMemory(config, fullPolicy(config), { weightDtype: 'fp32' }).parameterCount,
    sinkSize,
    recentSize,
    ...(floor !== undefined ? { matmulFloor: floor } : {}),
    ...(floors !== undefined && floors.length > 1 ? { matmulFloors: floors } : {}),
    ...(bandwidth !== undefined ? { copyBandwidth: bandwidth } : {}),
    results,
  };
  if (out !== undefined) {
    const title = `${report.model}, ${backend.name} backend`;
    const chart =
      mode === 'prefill'
        ? renderLineChartSvg(
            results.map((r) => ({
              name: r.policy,
              points: (r.prefill ?? []).map((m) => [m.chunkSize, m.tokensPerSecond] as const),
            })),
            {
              title: `prefill of ${promptLength} tokens: ${title}`,
              xLabel: 'chunk size (tokens)',
              yLabel: 'tokens/s',
              logX: true,
            },
          )
        : mode === 'decode'
          ? renderLineChartSvg(
              results.map((r) => ({
                name: r.policy,
                points: (r.decode ?? []).map((m) => [m.context, m.msPerToken ?? 0] as const),
              })),
              { title: `decode: ${title}`, xLabel: 'context (tokens)', yLabel: 'ms/token', logX: true },
            )
          : renderLineChartSvg(
              results.map((r) => ({
                name: r.policy,
                points: (r.decode ?? []).map((m) => [m.context, m.kvBytesUsed / 2 ** 20] as const),
              })),
              { title: `KV cache: ${title}`, xLabel: 'context (tokens)', yLabel: 'MiB', logX: true },
            );
    await writeFilesAtomically([
      { path: join(out, 'results.json'), data: `${JSON.stringify(report, null, 2)}\n` },
      { path: join(out, `${mode}.svg`), data: chart },
    ]);
    io.stderr(`wrote ${out}: results.json and ${mode}.svg\n`);
  }
  if (args.values.json) printJson(io, report);
  else io.stdout(formatBenchTable(mode, report));
}
