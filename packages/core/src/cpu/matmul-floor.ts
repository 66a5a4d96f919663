// The cpu backend's speed floor for decoding: onnxruntime running only the decoder's matrix
// products (fused q|k|v, o, fused gate|up, down, lm_head) for one token on the model's own
// weights, nothing else. Decode latency is reported as a multiple of this.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSource } from '../backend/backend.js';
import { transpose } from './decoder-graph.js';
import { GraphBuilder } from './onnx/graph-builder.js';

/** Median and minimum of repeated one-token runs, in milliseconds. */
export interface MatmulFloor {
  readonly medianMs: number;
  readonly minMs: number;
  readonly repetitions: number;
  readonly threads: number;
  /** Decode steps per pass (rows of every product): 1, or a batch of sequences' steps. */
  readonly rows: number;
}

/**
 * Times onnxruntime on the decoder's linear layers for a single token, or for `rows` tokens at
 * once (the floor of a batched decode pass of that many sequences), with weights as `[in, out]`
 * MatMuls, as the decoder graph lays them out; lm_head as Gemm with transB, as there.
 */
export async function measureMatmulFloor(
  model: ModelSource,
  options: { threads: number; repetitions?: number; warmup?: number; rows?: number },
): Promise<MatmulFloor> {
  const rows = options.rows ?? 1;
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw new RangeError(`rows must be a positive integer, got ${rows}`);
  const ort = await import('onnxruntime-node');
  const { config, weights } = model;
  const { hiddenSize: h, intermediateSize: m, headDim: d, numHeads, numKvHeads } = config;
  const g = new GraphBuilder();
  const xh = g.input('xh', 'float32', [rows, h]);
  const xa = g.input('xa', 'float32', [rows, numHeads * d]);
  const xm = g.input('xm', 'float32', [rows, m]);
  const outputs: string[] = [];
  const matmul = (
    x: string,
    name: string,
    parts: readonly Float32Array[],
    out: number,
    inFeatures: number,
  ) => {
    const stacked = new Float32Array(out * inFeatures);
    let offset = 0;
    for (const part of parts) {
      stacked.set(part, offset);
      offset += part.length;
    }
    outputs.push(
      g.node('MatMul', [x, g.initializer(name, transpose(stacked, out, inFeatures), [inFeatures, out])]),
    );
  };
  weights.layers.forEach((layer, l) => {
    matmul(xh, `qkv${l}`, [layer.qProj, layer.kProj, layer.vProj], (numHeads + 2 * numKvHeads) * d, h);
    matmul(xa, `o${l}`, [layer.oProj], h, numHeads * d);
    matmul(xh, `gate_up${l}`, [layer.gateProj, layer.upProj], 2 * m, h);
    matmul(xm, `down${l}`, [layer.downProj], h, m);
  });
  outputs.push(
    g.node('Gemm', [xh, g.initializer('lm_head', weights.lmHead, [config.vocabSize, h])], { transB: 1 }),
  );
  outputs.forEach((name, i) => {
    g.output(name, 'float32', [rows, `n${i}`]);
  });
  const directory = await mkdtemp(join(tmpdir(), 'duo-matmul-floor-'));
  try {
    const written = await g.writeTo(directory);
    const session = await ort.InferenceSession.create(written.modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: options.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const feed = (size: number) =>
      new ort.Tensor('float32', new Float32Array(rows * size).fill(0.01), [rows, size]);
    const feeds = { xh: feed(h), xa: feed(numHeads * d), xm: feed(m) };
    for (let i = 0; i < (options.warmup ?? 3); i++) await session.run(feeds);
    const times: number[] = [];
    const repetitions = options.repetitions ?? 20;
    for (let i = 0; i < repetitions; i++) {
      const start = performance.now();
      await session.run(feeds);
      times.push(performance.now() - start);
    }
    await session.release();
    times.sort((a, b) => a - b);
    return {
      medianMs: times[Math.floor(times.length / 2)]!,
      minMs: times[0]!,
      repetitions,
      threads: options.threads,
      rows,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
