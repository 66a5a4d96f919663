// The cpu backend's worker process: owns the onnxruntime session, the KV caches and the RoPE state of
// every sequence. It is a child process, not a thread, so that a native fault inside onnxruntime
// (onnxruntime 1.30 overflows its stack on a long command line, and has died with SIGFPE) ends this
// process only; the caller's executor turns the exit into typed errors. Requests are handled strictly
// in arrival order; any failure is fatal and reported to the caller.
import { rmSync } from 'node:fs';
import type * as Ort from 'onnxruntime-node';
import { dynamicRopeLength, ropeFrequencies } from '../model/rope.js';
import { BatchPasts } from './batch-pasts.js';
import type { CacheLayout } from './cache-layout.js';
import type { CpuWorkerInit, CpuWorkerReply, CpuWorkerRequest } from './cpu-protocol.js';
import { ropeInputs } from './decoder-graph.js';
import { type LayerUpdate, SequenceKvCache } from './sequence-kv-cache.js';

type Session = Ort.InferenceSession;
type Tensor = Ort.Tensor;

if (process.send === undefined) throw new Error('cpu-worker must run as a child process with an IPC channel');
const send = process.send.bind(process);

/** Everything fixed by the `init` request. */
interface WorkerState {
  readonly init: CpuWorkerInit;
  readonly config: CpuWorkerInit['config'];
  readonly layout: CacheLayout;
  readonly caches: (SequenceKvCache | undefined)[];
  /** RoPE frequencies are fixed except for dynamic NTK, where they depend on each call's length. */
  readonly fixedFrequencies: ReturnType<typeof ropeFrequencies> | undefined;
}

let state: WorkerState | undefined;
/** The batch-layout pasts of batched decode passes, kept between passes. */
let batchPasts: BatchPasts | undefined;
let ort: typeof Ort;
let session: Session | undefined;
let failed = false;
/** The id of the forward call the caller aborted last (0: none). */
let cancelledId = 0;

function post(reply: CpuWorkerReply): void {
  // A caller that is gone can no longer be told anything; the disconnect handler exits.
  if (process.connected) send(reply);
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

async function start(init: CpuWorkerInit): Promise<void> {
  const { config } = init;
  state = {
    init,
    config,
    layout: {
      headDim: config.headDim,
      retrievalHeads: init.layers.map((layer) => layer.retrieval),
      streamingHeads: init.layers.map((layer) => layer.streaming),
      window: init.sinkSize + init.recentSize,
      maxTokens: init.maxTokens,
    },
    caches: new Array(init.maxSequences).fill(undefined),
    fixedFrequencies:
      config.rope.type === 'dynamic' ? undefined : ropeFrequencies(config.rope, config.headDim),
  };
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
  const missing = expectedInputs(init).filter((name) => !created.inputNames.includes(name));
  if (missing.length > 0) {
    fail('the decoder graph does not match the executor', `missing inputs ${missing.join(', ')}`);
    return;
  }
  post({ type: 'ready' });
}

function expectedInputs(init: CpuWorkerInit): string[] {
  const names = ['input_ids', 'rope_cos', 'rope_sin', 'logits_from'];
  if (init.layers.some((layer) => layer.retrieval > 0)) names.push('past_length_r');
  if (init.layers.some((layer) => layer.streaming > 0)) names.push('past_length_s');
  init.layers.forEach((layer, l) => {
    if (layer.retrieval > 0) names.push(`past_key_r${l}`, `past_value_r${l}`);
    if (layer.streaming > 0) names.push(`past_key_s${l}`, `past_value_s${l}`);
  });
  return names;
}

/** One forward call: run the graph on the cached past, then commit unless the main thread aborted it. */
async function forward(request: Extract<CpuWorkerRequest, { type: 'forward' }>): Promise<void> {
  const { init, config, fixedFrequencies } = live();
  const { id, sequence, tokens, allLogits } = request;
  const d = config.headDim;
  const cache = cacheOf(sequence);
  const rows = tokens.length;
  const start = cache.length;
  cache.ensureCapacity(start + rows);
  const ropeLength = nextRopeLength(cache, rows);
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
    ...lengthFeeds([cache]),
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
  // Let a cancel message that is already on its way land before deciding to commit.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (cancelledId === id) {
    post({ type: 'cancelled', id, capacity: cache.capacity });
    return;
  }
  const data = outputData(outputs);
  const updates = layerUpdates(data, (array) => array);
  const numRows = allLogits ? rows : 1;
  let logits = data('logits');
  if (logits.length !== numRows * config.vocabSize) {
    throw new Error(`logits have ${logits.length} values, expected ${numRows} x ${config.vocabSize}`);
  }
  cache.commit(id, rows, ropeLength, updates);
  // Only the view is sent: a view into a larger buffer would copy all of it.
  if (logits.byteOffset !== 0 || logits.byteLength !== logits.buffer.byteLength) logits = logits.slice();
  post({ type: 'result', id, logits, numRows, length: cache.length, capacity: cache.capacity });
}

/** The caches of `sequence`, created empty on first use. */
function cacheOf(sequence: number): SequenceKvCache {
  const { init, config, layout, caches } = live();
  let cache = caches[sequence];
  if (cache === undefined) {
    cache = new SequenceKvCache(layout, init.sinkSize, config.maxPositionEmbeddings);
    caches[sequence] = cache;
  }
  return cache;
}

/** Dynamic NTK follows HF's stateful rule, kept per sequence and committed with the call. */
function nextRopeLength(cache: SequenceKvCache, tokens: number): number {
  const { config } = live();
  return config.rope.type === 'dynamic'
    ? dynamicRopeLength(cache.ropeLength, cache.length + tokens, config.maxPositionEmbeddings)
    : cache.ropeLength;
}

/** Each layer's new K/V outputs, through `select(array, heads)` (the whole output, or a sequence's row). */
function layerUpdates(
  data: (name: string) => Float32Array,
  select: (array: Float32Array, heads: number) => Float32Array,
): LayerUpdate[] {
  return live().init.layers.map((layer, l) => ({
    ...(layer.retrieval > 0
      ? {
          retrievalKeys: select(data(`new_key_r${l}`), layer.retrieval),
          retrievalValues: select(data(`new_value_r${l}`), layer.retrieval),
        }
      : {}),
    ...(layer.streaming > 0
      ? {
          streamingKeys: select(data(`new_key_s${l}`), layer.streaming),
          streamingValues: select(data(`new_value_s${l}`), layer.streaming),
        }
      : {}),
  }));
}

/** `past_length_r` / `past_length_s` `[B]` i64 of the sequences, for the groups the graph has. */
function lengthFeeds(caches: readonly SequenceKvCache[]): Record<string, Tensor> {
  const { init } = live();
  const feeds: Record<string, Tensor> = {};
  const lengths = (of: (cache: SequenceKvCache) => number) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(caches, (cache) => BigInt(of(cache))),
      [caches.length],
    );
  if (init.layers.some((layer) => layer.retrieval > 0))
    feeds.past_length_r = lengths((cache) => cache.length);
  if (init.layers.some((layer) => layer.streaming > 0)) {
    feeds.past_length_s = lengths((cache) => cache.streamingCount);
  }
  return feeds;
}

/** One decode step on each of several sequences in one `session.run`, then per-sequence commits. */
async function forwardBatch(request: Extract<CpuWorkerRequest, { type: 'forwardBatch' }>): Promise<void> {
  const { init, config, layout, fixedFrequencies } = live();
  const { id, sequences, tokens } = request;
  const d = config.headDim;
  const half = d / 2;
  const batch = sequences.length;
  const batchCaches = sequences.map((sequence) => {
    const cache = cacheOf(sequence);
    cache.ensureCapacity(cache.length + 1);
    return cache;
  });
  const ropeLengths = batchCaches.map((cache) => nextRopeLength(cache, 1));
  const cos = new Float32Array(batch * half);
  const sin = new Float32Array(batch * half);
  batchCaches.forEach((cache, b) => {
    const rope = ropeInputs(config, [cache.length], ropeLengths[b], fixedFrequencies);
    cos.set(rope.cos, b * half);
    sin.set(rope.sin, b * half);
  });
  const feeds: Record<string, Tensor> = {
    input_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from(tokens, (token) => BigInt(token)),
      [batch],
    ),
    rope_cos: new ort.Tensor('float32', cos, [batch, half]),
    rope_sin: new ort.Tensor('float32', sin, [batch, half]),
    logits_from: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    ...lengthFeeds(batchCaches),
  };
  batchPasts ??= new BatchPasts(layout);
  const pasts = batchPasts;
  const feedGroup = (group: 'r' | 's', layer: number, heads: number) => {
    for (const kind of ['key', 'value'] as const) {
      const { data, rows } =
        group === 'r'
          ? pasts.retrievalPast(layer, kind === 'value', batchCaches)
          : pasts.streamingPast(layer, kind === 'value', batchCaches);
      feeds[`past_${kind}_${group}${layer}`] = new ort.Tensor('float32', data, [rows, batch * heads, d]);
    }
  };
  init.layers.forEach((layer, l) => {
    if (layer.retrieval > 0) feedGroup('r', l, layer.retrieval);
    if (layer.streaming > 0) feedGroup('s', l, layer.streaming);
  });

  if (session === undefined) throw new Error('forwardBatch before the onnxruntime session was created');
  const outputs = await session.run(feeds);
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (cancelledId === id) {
    post({
      type: 'cancelled',
      id,
      capacity: batchCaches[0]!.capacity,
      capacities: batchCaches.map((cache) => cache.capacity),
    });
    return;
  }
  const data = outputData(outputs);
  let logits = data('logits');
  if (logits.length !== batch * config.vocabSize) {
    throw new Error(`logits have ${logits.length} values, expected ${batch} x ${config.vocabSize}`);
  }
  batchCaches.forEach((cache, b) => {
    // Row b of every `[B, F, d]` output is sequence b's one token.
    const updates = layerUpdates(data, (array, heads) => array.subarray(b * heads * d, (b + 1) * heads * d));
    cache.commit(id, 1, ropeLengths[b]!, updates);
  });
  if (logits.byteOffset !== 0 || logits.byteLength !== logits.buffer.byteLength) logits = logits.slice();
  post({
    type: 'batchResult',
    id,
    logits,
    lengths: batchCaches.map((cache) => cache.length),
    capacities: batchCaches.map((cache) => cache.capacity),
    batchBytes: pasts.bytes,
  });
}

/** Reads a float32 output of a `session.run` by name. */
function outputData(outputs: Record<string, Tensor>): (name: string) => Float32Array {
  return (name) => {
    const tensor = outputs[name];
    if (tensor === undefined || !(tensor.data instanceof Float32Array)) {
      throw new Error(`the graph returned no float32 output ${name}`);
    }
    return tensor.data;
  };
}

function live(): WorkerState {
  if (state === undefined) throw new Error('a request arrived before init');
  return state;
}

function fillSequence(request: Extract<CpuWorkerRequest, { type: 'fill' }>): void {
  const { init, config, layout, caches } = live();
  const cache = new SequenceKvCache(layout, init.sinkSize, config.maxPositionEmbeddings);
  cache.fillSynthetic(request.length, request.seed);
  const replaced = caches[request.sequence];
  if (replaced !== undefined) batchPasts?.release(replaced);
  caches[request.sequence] = cache;
  post({ type: 'filled', id: request.id, length: cache.length, capacity: cache.capacity });
}

function handle(request: CpuWorkerRequest): Promise<void> | void {
  switch (request.type) {
    case 'init':
      return start(request.init);
    case 'forward':
      return forward(request);
    case 'forwardBatch':
      return forwardBatch(request);
    case 'reset': {
      const { caches } = live();
      const dropped = caches[request.sequence];
      if (dropped !== undefined) batchPasts?.release(dropped);
      caches[request.sequence] = undefined;
      // No sequence left: the batch-layout copies go too (the executor mirrors this rule).
      const empty = (cache: SequenceKvCache | undefined) =>
        cache === undefined || (cache.length === 0 && cache.capacity === 0);
      if (caches.every(empty)) batchPasts = undefined;
      return;
    }
    case 'fill':
      return fillSequence(request);
    case 'undo':
      live().caches[request.sequence]?.undo(request.id);
      return;
    case 'shutdown':
      return shutdown();
    case 'cancel':
    case 'crash':
      return;
  }
}

async function shutdown(): Promise<void> {
  await session?.release().catch(() => undefined);
  process.exit(0);
}

// An uncaught exception is reported with its message before the process exits.
process.on('uncaughtException', (error) => {
  post({
    type: 'crashed',
    message: error instanceof Error ? error.message : String(error),
    ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
  });
  process.exit(70);
});
// Ctrl-C in a terminal reaches the whole process group: the caller decides what an interrupt means
// (finish, keep results, dispose), so the worker must not die of it first.
process.on('SIGINT', () => undefined);
// The caller is gone (it exited or was killed without disposing): remove its temporary graph, exit.
process.on('disconnect', () => {
  const folder = state?.init.orphanCleanup;
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  process.exit(0);
});

let chain: Promise<void> = Promise.resolve();
process.on('message', (request: CpuWorkerRequest) => {
  if (request.type === 'cancel') {
    cancelledId = request.id;
    return;
  }
  if (request.type === 'crash') {
    // Test hook: fail like a native crash would, outside any promise chain.
    if (request.mode === 'exit') process.exit(3);
    if (request.mode === 'signal') process.kill(process.pid, 'SIGSEGV');
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
post({ type: 'alive' });
