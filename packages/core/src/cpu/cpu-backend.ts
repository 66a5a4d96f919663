// The `cpu` backend: runs DuoAttention on onnxruntime-node's CPU execution provider. It builds one
// ONNX decoder graph per load (weights reordered so retrieval heads come first) and runs it in a
// worker process, so long prefills never block the caller's event loop and a native crash inside
// onnxruntime never takes the caller down.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, BackendCapabilities, Executor, LoadOptions, ModelSource } from '../backend/backend.js';
import { BackendUnavailableError } from '../backend/backend-errors.js';
import { validateLoadRequest } from '../backend/validate-model.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { CpuExecutor } from './cpu-executor.js';
import { buildDecoderGraph, type DecoderGraph } from './decoder-graph.js';

/** Name the cpu backend registers under. */
export const CPU_BACKEND_NAME = 'cpu';

/** Options of {@link createCpuBackend}. */
export interface CpuBackendOptions {
  /** onnxruntime intra-op threads per executor (default `os.availableParallelism()`). */
  readonly threads?: number;
}

const capabilities: BackendCapabilities = {
  computeDtypes: ['fp32'],
  kvCacheDtypes: ['fp32'],
  // w8a8 through MatMulInteger (int8 × int8, int32 accumulation); KV4 caches are not implemented here.
  weightFormats: ['float', 'w8a8'],
  training: false,
};

/**
 * Creates the cpu backend. `isAvailable()` reports why it cannot run (onnxruntime-node missing or
 * its native binding failing to load); `load()` returns an executor backed by a worker process.
 */
export function createCpuBackend(options: CpuBackendOptions = {}): Backend {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads <= 0) {
    throw new RangeError(`cpu backend threads must be a positive integer (got ${String(options.threads)})`);
  }
  return {
    specificationVersion: 'v1',
    name: CPU_BACKEND_NAME,
    capabilities,
    isAvailable: checkOnnxRuntime,
    load: (model: ModelSource, policy: KvCachePolicy, loadOptions: LoadOptions): Promise<Executor> =>
      loadCpu(model, policy, loadOptions, threads),
  };
}

/** Whether onnxruntime-node imports here and offers its CPU execution provider; the reason if not. */
async function checkOnnxRuntime(): Promise<{ available: true } | { available: false; reason: string }> {
  let ort: typeof import('onnxruntime-node');
  try {
    // A variable specifier: core must load (and bundle) without onnxruntime-node installed.
    const name = 'onnxruntime-node';
    ort = (await import(name)) as typeof import('onnxruntime-node');
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    const missing =
      typeof error === 'object' && error !== null && 'code' in error && error.code === 'ERR_MODULE_NOT_FOUND';
    return {
      available: false,
      reason: missing
        ? `onnxruntime-node is not installed (install it next to @duo-attn/core): ${detail}`
        : `onnxruntime-node failed to load its native binding: ${detail}`,
    };
  }
  try {
    const supported = ort.listSupportedBackends?.() ?? [];
    if (!supported.some((entry) => entry.name === 'cpu')) {
      return {
        available: false,
        reason: `onnxruntime-node ${ort.env.versions.node ?? ''} offers no cpu execution provider here`,
      };
    }
  } catch (error) {
    return {
      available: false,
      reason: `onnxruntime-node failed to list its execution providers: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  return { available: true };
}

async function loadCpu(
  model: ModelSource,
  policy: KvCachePolicy,
  options: LoadOptions,
  threads: number,
): Promise<Executor> {
  const { maxTokens, maxSequences } = validateLoadRequest('cpu', capabilities, model, policy, options);
  const { config } = model;
  const available = await checkOnnxRuntime();
  if (!available.available) {
    throw new BackendUnavailableError(`the cpu backend cannot run here: ${available.reason}`, [
      { name: CPU_BACKEND_NAME, reason: available.reason },
    ]);
  }
  const directory = await mkdtemp(join(tmpdir(), 'duo-attn-cpu-'));
  let graph: DecoderGraph;
  try {
    graph = await buildDecoderGraph(model, policy, { directory });
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  // The executor removes the graph's files; the directory goes with them.
  const owned: DecoderGraph = {
    modelPath: graph.modelPath,
    layers: graph.layers,
    dispose: async () => {
      try {
        await graph.dispose();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
  return CpuExecutor.start({
    config,
    policy,
    maxTokens,
    maxSequences,
    threads,
    graph: owned,
    graphDirectory: directory,
    weightBytes: weightBytes(model),
  });
}

/**
 * Bytes of the distinct weight arrays the graph holds (tied embeddings counted once): float32, and
 * for a W8A8 model its int8 linears (codes + float32 scales) instead of their float view.
 */
function weightBytes(model: ModelSource): number {
  const { weights, w8a8 } = model;
  const linears = new Set(['qProj', 'kProj', 'vProj', 'oProj', 'gateProj', 'upProj', 'downProj']);
  const arrays = new Set<Float32Array>([weights.embedTokens, weights.norm, weights.lmHead]);
  for (const layer of weights.layers) {
    for (const [name, value] of Object.entries(layer)) {
      if (value instanceof Float32Array && !(w8a8 !== undefined && linears.has(name))) arrays.add(value);
    }
  }
  let bytes = 0;
  for (const array of arrays) bytes += array.byteLength;
  for (const layer of w8a8?.layers ?? []) {
    for (const linear of Object.values(layer)) bytes += linear.weight.byteLength + linear.scale.byteLength;
  }
  return bytes;
}
