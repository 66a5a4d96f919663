// The cuda backend's benchmarks on the GPU machine (issue #7): Llama-3-8B-shaped random bf16 weights
// made on the device, batch 1. Decode ms/token and device memory at 8K..512K context for full
// attention and DuoAttention 50% / 25% (each next to its bandwidth floor: (weight bytes + KV bytes
// read) / the copy bandwidth duo_kernel_checks measured in the same run; `decodeSampledMs` is the same
// step with the greedy token picked on the GPU by forwardSample, no logits copied), the largest context each
// policy fits, and prefill of a 128K prompt at several chunk sizes. Writes $OUT/cuda-bench.json.
//   node cuda-bench.mjs [--quick]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fullPolicy,
  type KvCachePolicy,
  type ModelConfig,
  policyFromMask,
  randomModelConfig,
  resolveSamplingOptions,
} from '../../../packages/core/src/index.js';
import { benchmarkDecode } from '../../../packages/eval/src/bench/decode-benchmark.js';
import { MODEL_SHAPES } from '../../../packages/eval/src/bench/model-shapes.js';
import { benchmarkPrefill } from '../../../packages/eval/src/bench/prefill-benchmark.js';
import {
  type CudaExecutor,
  createCudaBackend,
  cudaAvailability,
} from '../../../packages/kernels-cuda/src/index.js';
import { sparsify } from '../../../packages/patterns/src/index.js';

const out = process.env.OUT ?? '/tmp';
const quick = process.argv.includes('--quick');
const SINK = 64;
const RECENT = 256;
const CONTEXTS = quick ? [8192, 131072] : [4096, 8192, 32768, 131072, 262144, 524288];
const PREFILL_CHUNKS = quick ? [32768] : [4096, 16384, 32768, 65536];
const PROMPT = 131072;

function log(message: string): void {
  console.log(`[cuda-bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Copy bandwidth (bytes read + written per second) from duo_kernel_checks' record in this run. */
function copyBandwidth(): number {
  for (const name of ['bandwidth.jsonl', 'kernel-checks.jsonl']) {
    const file = join(out, name);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('"CopyBandwidth"')) continue;
      return (JSON.parse(line) as { bytes_per_second: number }).bytes_per_second;
    }
  }
  throw new Error(
    `no CopyBandwidth record in ${out}: run duo_kernel_checks --bench --filter CopyBandwidth first`,
  );
}

function duoPolicy(config: ModelConfig, ratio: number): KvCachePolicy {
  // Synthetic gates (seeded), sparsified to the ratio: the same construction as `duo bench`.
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const gates = Array.from({ length: config.numLayers }, () =>
    Array.from({ length: config.numKvHeads }, next),
  );
  return policyFromMask(sparsify(gates, { sparsity: 1 - ratio }).mask, {
    sinkSize: SINK,
    recentSize: RECENT,
    cacheDtype: 'bf16',
  });
}

/**
 * Decode ms/token (median and min of 10 steps after 3 untimed) at `context` on sequence 0 with the
 * greedy token selected on the GPU (forwardSample: 4 bytes come back instead of the logits row),
 * the cache filled as benchmarkDecode fills it. Leaves the sequence reset.
 */
async function sampledDecode(
  executor: CudaExecutor,
  context: number,
): Promise<{ ms: number; minMs: number }> {
  const request = { ...resolveSamplingOptions({ greedy: true }), uniform: 0 };
  executor.reset(0);
  await executor.fillSyntheticCache(0, context, 0);
  for (let i = 0; i < 3; i++) await executor.forwardSample(0, [1], request);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    await executor.forwardSample(0, [1], request);
    times.push(performance.now() - start);
  }
  executor.reset(0);
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, minMs: times[0]! };
}

const availability = await cudaAvailability();
if (!availability.available) throw new Error(`cuda unavailable: ${availability.reason}`);
const device = availability.devices[0]!;
const bandwidth = copyBandwidth();
log(
  `${device.name}, ${(device.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB; copy bandwidth ${(bandwidth / 1e12).toFixed(3)} TB/s`,
);

const config = randomModelConfig({
  ...MODEL_SHAPES['llama3-8b'],
  maxPositionEmbeddings: 1 << 20,
  rope: { type: 'default', theta: 500000 },
});
const policies: { name: string; policy: KvCachePolicy }[] = [
  { name: 'full', policy: fullPolicy(config, { cacheDtype: 'bf16' }) },
  { name: 'duo:0.5', policy: duoPolicy(config, 0.5) },
  { name: 'duo:0.25', policy: duoPolicy(config, 0.25) },
];
const backend = createCudaBackend();

const decode: Record<string, unknown>[] = [];
for (const { name, policy } of policies) {
  for (const context of CONTEXTS) {
    let executor: Awaited<ReturnType<typeof backend.loadSynthetic>>;
    try {
      executor = await backend.loadSynthetic(config, policy, { maxTokens: context + 16 }, 1);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${name} @ ${context}: does not fit (${message.slice(0, 160)})`);
      decode.push({ policy: name, context, fits: false, error: message });
      continue;
    }
    try {
      const [m] = await benchmarkDecode(executor, { contexts: [context], steps: 10, warmup: 3 });
      const memory = executor.memory();
      const scratch = executor.scratchBytes();
      const sampled = await sampledDecode(executor, context);
      // KV bytes as measured at `context` tokens (benchmarkDecode resets the sequence afterwards).
      const bytesRead = memory.weightBytes + m!.kvBytesUsed;
      const floorMs = (bytesRead / bandwidth) * 1e3;
      decode.push({
        policy: name,
        context,
        fits: true,
        msPerToken: m!.msPerToken,
        minMsPerToken: m!.minMsPerToken,
        weightBytes: memory.weightBytes,
        kvBytesUsed: m!.kvBytesUsed,
        kvBytesAllocated: memory.kvBytesAllocated,
        scratchBytes: scratch,
        deviceBytes: memory.weightBytes + memory.kvBytesAllocated + scratch,
        floorMs,
        ratioToFloor: m!.msPerToken / floorMs,
        // The same decode step with the greedy id picked on the GPU (no logits copy back).
        decodeSampledMs: sampled.ms,
        decodeSampledMinMs: sampled.minMs,
      });
      log(
        `${name} @ ${context}: ${m!.msPerToken.toFixed(2)} ms/token (${sampled.ms.toFixed(2)} sampled on the GPU), floor ${floorMs.toFixed(2)} ms (${(m!.msPerToken / floorMs).toFixed(2)}x), device ${((memory.weightBytes + memory.kvBytesAllocated + scratch) / 2 ** 30).toFixed(1)} GiB`,
      );
    } finally {
      await executor.dispose();
    }
  }
}

// Largest context per policy: the planner's estimate from free memory, confirmed by allocating it.
const largest: Record<string, unknown>[] = [];
for (const { name, policy } of policies) {
  const probe = await backend.loadSynthetic(config, policy, { maxTokens: 1024 }, 1);
  await probe.forward(0, [1]);
  const memory = probe.memory();
  const scratch = probe.scratchBytes();
  await probe.dispose();
  const perToken = policy.layers.reduce(
    (sum, split) => sum + 2 * split.retrievalKvHeads.length * config.headDim * 2,
    0,
  );
  const streamingBytes = memory.kvBytesAllocated - perToken * 1024;
  let tokens = Math.floor(
    (device.totalMemoryBytes * 0.985 - memory.weightBytes - scratch - streamingBytes) / perToken,
  );
  let confirmed = 0;
  for (let attempt = 0; attempt < 8 && confirmed === 0; attempt++) {
    try {
      const executor = await backend.loadSynthetic(config, policy, { maxTokens: tokens }, 1);
      await executor.fillSyntheticCache(0, tokens - 1, 1);
      await executor.forward(0, [1]);
      await executor.dispose();
      confirmed = tokens;
    } catch {
      tokens = Math.floor(tokens * 0.98);
    }
  }
  largest.push({ policy: name, maxTokens: confirmed, kvBytesPerToken: perToken });
  log(`${name}: largest context that fits and decodes: ${confirmed} tokens`);
}

const prefill: Record<string, unknown>[] = [];
for (const { name, policy } of policies.slice(0, 2)) {
  const executor = await backend.loadSynthetic(config, policy, { maxTokens: PROMPT }, 1);
  try {
    for (const m of await benchmarkPrefill(executor, {
      promptLength: PROMPT,
      chunkSizes: PREFILL_CHUNKS,
      repetitions: 1,
    })) {
      prefill.push({ policy: name, ...m });
      log(`prefill ${name}, ${PROMPT} tokens in chunks of ${m.chunkSize}: ${(m.ms / 1000).toFixed(2)} s`);
    }
  } finally {
    await executor.dispose();
  }
}

const report = {
  device: device.name,
  date: new Date().toISOString(),
  copyBandwidthBytesPerSecond: bandwidth,
  shape: 'llama3-8b',
  sink: SINK,
  recent: RECENT,
  decode,
  largest,
  prefill,
};
writeFileSync(join(out, 'cuda-bench.json'), `${JSON.stringify(report, null, 2)}\n`);
log('wrote cuda-bench.json');
