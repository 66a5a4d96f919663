// The cpu backend's worker thread: owns the onnxruntime session, the KV caches and the RoPE state of
// every sequence, so the blocking `session.run` never stalls the main thread's event loop. Requests
// are handled strictly in arrival order; any failure is fatal and reported to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { dynamicRopeLength, ropeFrequencies } from '../model/rope.js';
import type { CacheLayout } from './cache-layout.js';
import type { CpuWorkerInit, CpuWorkerReply, CpuWorkerRequest } from './cpu-protocol.js';
import { ropeInputs } from './decoder-graph.js';
import { type LayerUpdate, SequenceKvCache } from './sequence-kv-cache.js';

type Session = Ort.InferenceSession;
type Tensor = Ort.Tensor;

const port = parentPort;
if (port === null) throw new Error('cpu-worker.ts must run in a worker thread');
const init = workerData as CpuWorkerInit;
const { config } = init;
const cancelled = new Int32Array(init.cancel);
const layout: CacheLayout = {
  headDim: config.headDim,
  retrievalHeads: init.layers.map((layer) => layer.retrieval),
  streamingHeads: init.layers.map((layer) => layer.streaming),
  window: init.sinkSize + init.recentSize,
  maxTokens: init.maxTokens,
};
const caches: (SequenceKvCache | undefined)[] = new Array(init.maxSequences).fill(undefined);
// RoPE frequencies are fixed except for dynamic NTK, where they depend on each call's length.
const fixedFrequencies =
  config.rope.type === 'dynamic' ? undefined : ropeFrequencies(config.rope, config.headDim);
let ort: typeof Ort;
let session: Session | undefined;
let failed = false;

function post(reply: CpuWorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

function fail(what: string, error: unknown): void {
  if (failed) return;
  failed = true;
  const detail = error instanceof Error ? error.message : String(error);
  post({
    type: 'failed',
    message: `${what}: ${detail}`,
    ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
  });
}

async function start(): Promise<void> {
  try {
    ort = await import('onnxruntime-node');
  } catch (error) {
    fail('cannot load onnxruntime-node in the worker', error);
    return;
  }
  let created: Session;
  try {
    created = await ort.InferenceSession.create(init.modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: init.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // onnxruntime 1.30 dies with SIGFPE (killing the whole process) when a MatMul fused with the
      // Transpose of the concatenated keys runs on an empty past (X = 0, every first chunk) with
      // T >= 3 tokens; seen on a 4-layer, 8-head mixed-policy model. Other fusions stay on.
      extra: { optimization: { disable_specified_optimizers: 'MatmulTransposeFusion' } },
    });
  } catch (error) {
    fail(`onnxruntime cannot create a session for ${init.modelPath}`, error);
    return;
  }
  session = created;
  const missing = expectedInputs().filter((name) => !created.inputNames.includes(name));
  if (missing.length > 0) {
    fail('the decoder graph does not match the executor', `missing inputs ${missing.join(', ')}`);
    return;
  }
  post({ type: 'ready' });
}

function expectedInputs(): string[] {
  const names = ['input_ids', 'rope_cos', 'rope_sin', 'logits_from'];
  init.layers.forEach((layer, l) => {
    if (layer.retrieval > 0) names.push(`past_key_r${l}`, `past_value_r${l}`);
    if (layer.streaming > 0) names.push(`past_key_s${l}`, `past_value_s${l}`);
  });
  return names;
}

/** One forward call: run the graph on the cached past, then commit unless the main thread aborted it. */
async function forward(request: Extract<CpuWorkerRequest, { type: 'forward' }>): Promise<void> {
  const { id, sequence, tokens, allLogits } = request;
  const d = config.headDim;
  let cache = caches[sequence];
  if (cache === undefined) {
    cache = new SequenceKvCache(layout, init.sinkSize, config.maxPositionEmbeddings);
    caches[sequence] = cache;
  }
  const rows = tokens.length;
  const start = cache.length;
  cache.ensureCapacity(start + rows);
  // Dynamic NTK follows HF's stateful rule, kept per sequence and committed with the call.
  const ropeLength =
    config.rope.type === 'dynamic'
      ? dynamicRopeLength(cache.ropeLength, start + rows, config.maxPositionEmbeddings)
      : cache.ropeLength;
  const positions = Array.from({ length: rows }, (_, t) => start + t);
  const rope = ropeInputs(config, positions, ropeLength, fixedFrequencies);
  const half = d / 2;
  const feeds: Record<string, Tensor> = {
    input_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from(tokens, (id) => BigInt(id)),
      [rows],
    ),
    rope_cos: new ort.Tensor('float32', rope.cos, [rows, half]),
    rope_sin: new ort.Tensor('float32', rope.sin, [rows, half]),
    logits_from: new ort.Tensor('int64', BigInt64Array.of(BigInt(allLogits ? 0 : rows - 1)), [1]),
  };
  init.layers.forEach((layer, l) => {
    if (layer.retrieval > 0) {
      const past = cache.retrievalPast(l);
      const dims = [1 + cache.length, layer.retrieval, d];
      feeds[`past_key_r${l}`] = new ort.Tensor('float32', past.keys, dims);
      feeds[`past_value_r${l}`] = new ort.Tensor('float32', past.values, dims);
    }
    if (layer.streaming > 0) {
      const past = cache.streamingPast(l);
      const dims = [1 + cache.streamingCount, layer.streaming, d];
      feeds[`past_key_s${l}`] = new ort.Tensor('float32', past.keys, dims);
      feeds[`past_value_s${l}`] = new ort.Tensor('float32', past.values, dims);
    }
  });

  if (session === undefined) throw new Error('forward before the onnxruntime session was created');
  const outputs = await session.run(feeds);
  // Let a late abort land before deciding to commit (the flag is shared memory, read synchronously).
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (Atomics.load(cancelled, 0) === id) {
    post({ type: 'cancelled', id, capacity: cache.capacity });
    return;
  }
  const data = (name: string): Float32Array => {
    const tensor = outputs[name];
    if (tensor === undefined || !(tensor.data instanceof Float32Array)) {
      throw new Error(`the graph returned no float32 output ${name}`);
    }
    return tensor.data;
  };
  const updates: LayerUpdate[] = init.layers.map((layer, l) => ({
    ...(layer.retrieval > 0
      ? { retrievalKeys: data(`new_key_r${l}`), retrievalValues: data(`new_value_r${l}`) }
      : {}),
    ...(layer.streaming > 0
      ? { streamingKeys: data(`new_key_s${l}`), streamingValues: data(`new_value_s${l}`) }
      : {}),
  }));
  const numRows = allLogits ? rows : 1;
  let logits = data('logits');
  if (logits.length !== numRows * config.vocabSize) {
    throw new Error(`logits have ${logits.length} values, expected ${numRows} x ${config.vocabSize}`);
  }
  cache.commit(id, rows, ropeLength, updates);
  // Transfer, not copy: only a view that owns its whole buffer can be handed over as is.
  if (logits.byteOffset !== 0 || logits.byteLength !== logits.buffer.byteLength) logits = logits.slice();
  post({ type: 'result', id, logits, numRows, length: cache.length, capacity: cache.capacity }, [
    logits.buffer as ArrayBuffer,
  ]);
}

function fillSequence(request: Extract<CpuWorkerRequest, { type: 'fill' }>): void {
  const cache = new SequenceKvCache(layout, init.sinkSize, config.maxPositionEmbeddings);
  cache.fillSynthetic(request.length, request.seed);
  caches[request.sequence] = cache;
  post({ type: 'filled', id: request.id, length: cache.length, capacity: cache.capacity });
}

function handle(request: CpuWorkerRequest): Promise<void> | void {
  switch (request.type) {
    case 'forward':
      return forward(request);
    case 'reset':
      caches[request.sequence] = undefined;
      return;
    case 'fill':
      return fillSequence(request);
    case 'undo':
      caches[request.sequence]?.undo(request.id);
      return;
    case 'shutdown':
      return shutdown();
    case 'crash':
      return;
  }
}

async function shutdown(): Promise<void> {
  await session?.release().catch(() => undefined);
  process.exit(0);
}

let chain: Promise<void> = start();
port.on('message', (request: CpuWorkerRequest) => {
  if (request.type === 'crash') {
    // Test hook: fail like a native crash would, outside any promise chain.
    if (request.mode === 'exit') process.exit(3);
    setImmediate(() => {
      throw new Error('cpu worker crash requested by a test');
    });
    return;
  }
  chain = chain.then(async () => {
    if (failed && request.type !== 'shutdown') return;
    try {
      await handle(request);
    } catch (error) {
      fail(`${request.type} in the cpu worker failed`, error);
    }
  });
});
