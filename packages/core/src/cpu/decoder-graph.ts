// Builds the ONNX graph of one decoder forward pass for the CPU backend (inputs and outputs are
// described at buildDecoderGraph): weights reordered by the policy, two attention groups per layer
// (retrieval, streaming) over explicit caches passed in and returned by the executor, masks built
// inside the graph from shapes and per-sequence lengths. One graph serves one sequence's chunk of T
// tokens and a batch of B sequences' decode steps (continuous batching): its rows are B × T tokens.
// Every past input carries one leading padding row the graph ignores, so it is never empty.
import { mkdir, rm } from 'node:fs/promises';
import type { ModelSource } from '../backend/backend.js';
import { validateModelSource } from '../backend/validate-model.js';
import type { ModelConfig } from '../model/model-types.js';
import { type RopeFrequencies, ropeCosSin, ropeFrequencies } from '../model/rope.js';
import { validatePolicyForModel } from '../policy/create-policy.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { reorderW8A8Weights, reorderWeights } from '../policy/reorder-weights.js';
import type { Int8Linear } from '../quant/int8-weights.js';
import type { W8A8LayerWeights, W8A8Weights } from '../quant/w8a8-weights.js';
import { GraphBuilder } from './onnx/graph-builder.js';
import { OnnxGraphError } from './onnx/onnx-errors.js';
import { TensorDataType } from './onnx/onnx-proto.js';

/** The built graph on disk and the head split it was built for. */
export interface DecoderGraph {
  /** Path of the .onnx file (weights as external data in a sibling file when large). */
  readonly modelPath: string;
  /** Per layer: number of retrieval / streaming KV heads (after reordering, retrieval first). */
  readonly layers: readonly { readonly retrieval: number; readonly streaming: number }[];
  /** Removes the temporary files. */
  dispose(): Promise<void>;
}

/** Options of {@link buildDecoderGraph}. */
export interface DecoderGraphOptions {
  /** Directory to write `decoder.onnx` (+ `decoder.onnx.data`) into; created if missing. */
  readonly directory: string;
  /**
   * How linear layers are expressed: `matmul` (weights transposed once to `[in, out]`, bias as
   * Add) or `gemm` (HF `[out, in]` weights with transB=1, bias fused). Default `matmul`, measured
   * faster in onnxruntime 1.30 on the toy model (one-token matmuls about 0.5 ms vs 1.0 ms).
   */
  readonly linear?: 'matmul' | 'gemm';
}

/** Names of the graph's inputs and outputs (see CPU-CONTRACT.md). */
export const DecoderGraphNames = {
  inputIds: 'input_ids',
  ropeCos: 'rope_cos',
  ropeSin: 'rope_sin',
  logitsFrom: 'logits_from',
  logits: 'logits',
  pastLength: (group: 'r' | 's') => `past_length_${group}`,
  pastKey: (group: 'r' | 's', layer: number) => `past_key_${group}${layer}`,
  pastValue: (group: 'r' | 's', layer: number) => `past_value_${group}${layer}`,
  newKey: (group: 'r' | 's', layer: number) => `new_key_${group}${layer}`,
  newValue: (group: 'r' | 's', layer: number) => `new_value_${group}${layer}`,
} as const;

/**
 * cos/sin inputs of the graph for the given absolute positions: `[positions.length, headDim/2]` f32
 * each, multiplied by RoPE's attention scaling, computed by core's RoPE code (HF's float32 rounding).
 *
 * @param dynamicLength dynamic NTK only: the sequence length the frequencies are scaled for (see
 *   `dynamicRopeLength`); ignored by the other RoPE types.
 * @param frequencies precomputed `ropeFrequencies(config.rope, config.headDim, ...)`, to skip
 *   recomputing them on every call.
 */
export function ropeInputs(
  config: ModelConfig,
  positions: readonly number[],
  dynamicLength?: number,
  frequencies?: RopeFrequencies,
): { cos: Float32Array; sin: Float32Array } {
  const half = config.headDim / 2;
  const freq =
    frequencies ??
    ropeFrequencies(config.rope, config.headDim, config.rope.type === 'dynamic' ? dynamicLength : undefined);
  if (freq.inverseFrequencies.length !== half) {
    throw new OnnxGraphError(
      `RoPE frequencies are for headDim ${freq.inverseFrequencies.length * 2}, the model has ${config.headDim}`,
    );
  }
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  positions.forEach((position, t) => {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new OnnxGraphError(`RoPE position ${t} must be a non-negative integer, got ${position}`);
    }
    ropeCosSin(
      freq,
      position,
      cos.subarray(t * half, (t + 1) * half),
      sin.subarray(t * half, (t + 1) * half),
    );
  });
  return { cos, sin };
}

/**
 * Writes the decoder graph of `model` under `policy` into `options.directory` and returns its path
 * and per-layer head split. One `session.run` is one forward pass over B sequences of T new tokens
 * each, N = B·T rows in sequence-major order, where B = 1 (a chunk of one sequence) or T = 1 (a
 * batch of decode steps); other shapes are not supported:
 * - `input_ids` `[N]` i64; `rope_cos`, `rope_sin` `[N, d/2]` f32 (each row's position);
 *   `logits_from` `[1]` i64: the first row whose logits are returned.
 * - per layer and group g (`r` retrieval, `s` streaming; absent when the layer has no such head):
 *   `past_key_g{l}`, `past_value_g{l}` `[P_g, B·F, d]` f32, i.e. `[P_g, B, F, d]`: row 0 a padding
 *   row the graph masks out, then sequence b's cached tokens in rows 1..X_b (rows beyond are
 *   masked; any finite values);
 * - `past_length_g` `[B]` i64: X_b, the cached tokens of sequence b in group g's caches.
 * - outputs `new_key_g{l}`, `new_value_g{l}` `[N, F, d]` (post-RoPE keys) and `logits`
 *   `[N - logits_from, vocab]`.
 *
 * @throws ModelLoadError / PolicyError for a bad model or policy; OnnxGraphError for builder bugs.
 */
export async function buildDecoderGraph(
  model: ModelSource,
  policy: KvCachePolicy,
  options: DecoderGraphOptions,
): Promise<DecoderGraph> {
  validateModelSource(model);
  const { config } = model;
  validatePolicyForModel(policy, config);
  const weights = reorderWeights(model.weights, config, policy);
  const layers = policy.layers.map((split) => ({
    retrieval: split.retrievalKvHeads.length,
    streaming: split.streamingKvHeads.length,
  }));
  const g = new GraphBuilder({ opset: 17, name: 'duo_decoder', extraOpsets: { [MS_DOMAIN]: 1 } });
  const w8a8 = model.w8a8 === undefined ? undefined : reorderW8A8Weights(model.w8a8, config, policy);
  new DecoderWriter(g, config, options.linear ?? 'matmul').write(weights, layers, w8a8);
  await mkdir(options.directory, { recursive: true });
  const written = await g.writeTo(options.directory, { modelFile: 'decoder.onnx', externalThreshold: 1024 });
  const files = [written.modelPath, ...(written.dataPath === undefined ? [] : [written.dataPath])];
  return {
    modelPath: written.modelPath,
    layers,
    dispose: async () => {
      for (const file of files) await rm(file, { force: true });
    },
  };
}

type Group = 'r' | 's';

/** onnxruntime's contrib operator domain (FusedMatMul). */
const MS_DOMAIN = 'com.microsoft';

/** A group kind's attention mask and the split of its scores into past and new columns. */
interface Mask {
  /** `[B, 1, G*T, P + T]` f32: 0 where a query may look, -inf elsewhere. */
  readonly additive: string;
  /** `[2]` i64: [P, T]. */
  readonly split: string;
  /** `[1]` i64: P. */
  readonly past: string;
  /** `[1]` i64: P + T. */
  readonly total: string;
}

/** Emits the nodes of the decoder into a GraphBuilder. */
class DecoderWriter {
  private readonly g: GraphBuilder;
  private readonly config: ModelConfig;
  private readonly linearKind: 'matmul' | 'gemm';
  private readonly groupSize: number;
  private cos2 = '';
  private sinSigned = '';
  private tokens = '';
  /** `[1]` i64: T, new tokens per sequence (N / B). */
  private perSequence = '';
  /** `[1]` i64: G*T, query rows per KV head and sequence. */
  private queryRows = '';
  /** Shape tensors by their parts, so layers share them instead of each computing its own. */
  private readonly shapes = new Map<string, string>();
  private readonly masks = new Map<Group, Mask>();

  constructor(g: GraphBuilder, config: ModelConfig, linearKind: 'matmul' | 'gemm') {
    this.g = g;
    this.config = config;
    this.linearKind = linearKind;
    this.groupSize = config.numHeads / config.numKvHeads;
  }

  write(
    weights: ReturnType<typeof reorderWeights>,
    layers: readonly { retrieval: number; streaming: number }[],
    w8a8?: W8A8Weights,
  ): void {
    const { g, config } = this;
    const { headDim, hiddenSize, vocabSize } = config;
    const names = DecoderGraphNames;
    const ids = g.input(names.inputIds, 'int64', ['T']);
    const cos = g.input(names.ropeCos, 'float32', ['T', headDim / 2]);
    const sin = g.input(names.ropeSin, 'float32', ['T', headDim / 2]);
    const logitsFrom = g.input(names.logitsFrom, 'int64', [1]);
    const groupKinds = (['r', 's'] as const).filter((group) =>
      layers.some((split) => (group === 'r' ? split.retrieval : split.streaming) > 0),
    );
    for (const group of groupKinds) g.input(names.pastLength(group), 'int64', ['B']);
    layers.forEach((split, layer) => {
      for (const [group, heads] of [
        ['r', split.retrieval],
        ['s', split.streaming],
      ] as const) {
        if (heads === 0) continue;
        g.input(names.pastKey(group, layer), 'float32', [`P_${group}`, `BF_${group}${layer}`, headDim]);
        g.input(names.pastValue(group, layer), 'float32', [`P_${group}`, `BF_${group}${layer}`, headDim]);
      }
    });

    // Shared per call: [T, 1, d] cos|cos and -sin|sin for rotate-half, T, and one mask per group kind.
    const unsqueeze1 = g.int64s([1]);
    this.cos2 = g.node('Unsqueeze', [g.node('Concat', [cos, cos], { axis: 1 }), unsqueeze1]);
    this.sinSigned = g.node('Unsqueeze', [
      g.node('Concat', [g.node('Neg', [sin]), sin], { axis: 1 }),
      unsqueeze1,
    ]);
    this.tokens = g.node('Shape', [ids]);
    this.perSequence = g.node('Div', [this.tokens, g.node('Shape', [names.pastLength(groupKinds[0]!)])]);
    this.queryRows = g.node('Mul', [this.perSequence, g.int64s([this.groupSize])]);
    for (const group of groupKinds) {
      const first = layers.findIndex((split) => (group === 'r' ? split.retrieval : split.streaming) > 0);
      this.masks.set(group, this.buildMask(names.pastKey(group, first), names.pastLength(group)));
    }

    const embed = g.initializer('embed_tokens', weights.embedTokens, [vocabSize, hiddenSize]);
    let x = g.node('Gather', [embed, ids], { axis: 0 }); // [T, H]
    weights.layers.forEach((w, layer) => {
      x = this.layer(x, w, layer, layers[layer]!, w8a8?.layers[layer]);
    });
    const last = g.node('Slice', [x, logitsFrom, g.int64s([2n ** 63n - 1n]), g.int64s([0])]);
    const normed = this.rmsNorm(last, g.initializer('norm', weights.norm, [hiddenSize]));
    // lm_head: Gemm with transB reads the [vocab, H] matrix as is, so tied embeddings share one tensor.
    const lmHead =
      weights.lmHead === weights.embedTokens
        ? embed
        : g.initializer('lm_head', weights.lmHead, [vocabSize, hiddenSize]);
    g.node('Gemm', [normed, lmHead], { transB: 1 }, { outputs: [names.logits] });
    g.output(names.logits, 'float32', ['L', vocabSize]);
  }

  /**
   * The mask of one group kind, from `pastKey`'s shape (P rows, row 0 padding) and the sequences'
   * cached lengths X_b: `additive` `[B, 1, G*T, P + T]` f32, where sequence b's query row g*T+i may
   * see past column j iff 1 <= j <= X_b, and new column P + k iff k <= i (its own chunk, causally);
   * `split` `[2]` i64 = [P, T], to split probabilities into past and new.
   */
  private buildMask(pastKey: string, pastLength: string): Mask {
    const { g } = this;
    const past = g.node('Shape', [pastKey], { start: 0, end: 1 }); // [1] = P
    const scalar = (v: string) => g.node('Squeeze', [v, g.int64s([0])]);
    const zero = g.int64s([0], []);
    const one = g.int64s([1], []);
    const t = this.perSequence;
    const rows = g.node('Range', [zero, scalar(this.queryRows), one]); // [G*T]
    const newLimit = g.node('Unsqueeze', [g.node('Add', [g.node('Mod', [rows, t]), past]), g.int64s([1])]); // [G*T, 1]: P + i
    const total = g.node('Add', [past, t]); // [1] = P + T
    const columns = g.node('Unsqueeze', [g.node('Range', [zero, scalar(total), one]), g.int64s([0])]); // [1, P+T]
    const lengths = g.node('Unsqueeze', [pastLength, g.int64s([1, 2])]); // [B, 1, 1]
    const seesPast = g.node('And', [
      g.node('GreaterOrEqual', [columns, g.int64s([1], [])]),
      g.node('LessOrEqual', [columns, lengths]),
    ]); // [B, 1, P+T]: 1 <= j <= X_b (< P, as X_b < P)
    const seesNew = g.node('And', [
      g.node('GreaterOrEqual', [columns, past]),
      g.node('LessOrEqual', [columns, newLimit]),
    ]); // [G*T, P+T]
    const visible = g.node('Or', [seesPast, seesNew]); // [B, G*T, P+T]
    const additive = g.node('Where', [
      visible,
      g.float32s([0], []),
      g.float32s([Number.NEGATIVE_INFINITY], []),
    ]);
    return {
      additive: g.node('Unsqueeze', [additive, g.int64s([1])]),
      split: g.node('Concat', [past, t], { axis: 0 }),
      past,
      total,
    };
  }

  private layer(
    x: string,
    w: ReturnType<typeof reorderWeights>['layers'][number],
    layer: number,
    split: { retrieval: number; streaming: number },
    int8?: W8A8LayerWeights,
  ): string {
    const { g, config, groupSize } = this;
    const { hiddenSize, numHeads, numKvHeads, headDim, intermediateSize } = config;
    const p = `l${layer}_`;
    const h = this.rmsNorm(x, g.initializer(`${p}input_norm`, w.inputNorm, [hiddenSize]));

    // One projection for q|k|v: [T, (numHeads + 2 numKvHeads) d], softmax scale folded into q.
    const scale = 1 / Math.sqrt(headDim);
    const qRows = numHeads * headDim;
    const kvRows = numKvHeads * headDim;
    const qkvWeight = new Float32Array((qRows + 2 * kvRows) * hiddenSize);
    qkvWeight.set(w.qProj.map((v) => v * scale));
    qkvWeight.set(w.kProj, qRows * hiddenSize);
    qkvWeight.set(w.vProj, (qRows + kvRows) * hiddenSize);
    let qkvBias: Float32Array | undefined;
    if (config.attentionBias) {
      qkvBias = new Float32Array(qRows + 2 * kvRows);
      qkvBias.set(w.qBias!.map((v) => v * scale));
      qkvBias.set(w.kBias!, qRows);
      qkvBias.set(w.vBias!, qRows + kvRows);
    }
    const qkv =
      int8 === undefined
        ? this.linear(h, `${p}qkv`, qkvWeight, qRows + 2 * kvRows, hiddenSize, qkvBias)
        : this.linearInt8(
            h,
            `${p}qkv`,
            stackRows([int8.qProj, int8.kProj, int8.vProj], [scale, 1, 1]),
            qkvBias,
          );
    const heads3 = g.node('Reshape', [qkv, g.int64s([-1, numHeads + 2 * numKvHeads, headDim])]);
    const { retrieval, streaming } = split;
    const valueParts = [
      { size: retrieval, name: DecoderGraphNames.newValue('r', layer) },
      { size: streaming, name: DecoderGraphNames.newValue('s', layer) },
    ].filter((part) => part.size > 0);
    // With one group, the value half of this split is that group's new_value output (no copy).
    const v = valueParts.length === 1 ? valueParts[0]!.name : `${p}v`;
    const [qk] = g.nodeOutputs(
      'Split',
      [heads3, g.int64s([numHeads + numKvHeads, numKvHeads])],
      { axis: 1 },
      { outputs: [`${p}qk`, v] },
    );
    const rotated = this.rope(qk!);
    const parts = [
      { size: retrieval * groupSize, name: `${p}q_r` },
      { size: streaming * groupSize, name: `${p}q_s` },
      { size: retrieval, name: DecoderGraphNames.newKey('r', layer) },
      { size: streaming, name: DecoderGraphNames.newKey('s', layer) },
    ].filter((part) => part.size > 0);
    g.nodeOutputs(
      'Split',
      [rotated, g.int64s(parts.map((part) => part.size))],
      { axis: 1 },
      {
        outputs: parts.map((part) => part.name),
      },
    );
    if (valueParts.length === 2) {
      g.nodeOutputs(
        'Split',
        [v, g.int64s([retrieval, streaming])],
        { axis: 1 },
        {
          outputs: valueParts.map((part) => part.name),
        },
      );
    }

    const outputs: string[] = [];
    for (const [group, heads] of [
      ['r', retrieval],
      ['s', streaming],
    ] as const) {
      if (heads === 0) continue;
      const newKey = DecoderGraphNames.newKey(group, layer);
      const newValue = DecoderGraphNames.newValue(group, layer);
      g.output(newKey, 'float32', ['T', heads, headDim]);
      g.output(newValue, 'float32', ['T', heads, headDim]);
      outputs.push(this.attention(group, heads, `${p}q_${group}`, newKey, newValue, layer));
    }
    const attention = outputs.length === 1 ? outputs[0]! : g.node('Concat', outputs, { axis: 1 });
    const o =
      int8 === undefined
        ? this.linear(attention, `${p}o_proj`, w.oProj, hiddenSize, numHeads * headDim)
        : this.linearInt8(attention, `${p}o_proj`, int8.oProj);
    x = g.node('Add', [x, o]);

    // SwiGLU MLP with gate|up in one projection.
    const m = this.rmsNorm(x, g.initializer(`${p}post_attention_norm`, w.postAttentionNorm, [hiddenSize]));
    const gateUp = new Float32Array(2 * intermediateSize * hiddenSize);
    gateUp.set(w.gateProj);
    gateUp.set(w.upProj, intermediateSize * hiddenSize);
    let gateUpBias: Float32Array | undefined;
    if (config.mlpBias) {
      gateUpBias = new Float32Array(2 * intermediateSize);
      gateUpBias.set(w.gateBias!);
      gateUpBias.set(w.upBias!, intermediateSize);
    }
    const gu =
      int8 === undefined
        ? this.linear(m, `${p}gate_up`, gateUp, 2 * intermediateSize, hiddenSize, gateUpBias)
        : this.linearInt8(m, `${p}gate_up`, stackRows([int8.gateProj, int8.upProj], [1, 1]), gateUpBias);
    const [gate, up] = g.nodeOutputs(
      'Split',
      [gu, g.int64s([intermediateSize, intermediateSize])],
      { axis: 1 },
      { outputCount: 2 },
    );
    const act = g.node('Mul', [g.node('Mul', [gate!, g.node('Sigmoid', [gate!])]), up!]);
    const down = this.linear(
      act,
      `${p}down_proj`,
      w.downProj,
      hiddenSize,
      intermediateSize,
      config.mlpBias ? w.downBias : undefined,
    );
    return g.node('Add', [x, down]);
  }

  /**
   * Attention of one group. `q` `[N, F*G, d]`, new K/V `[N, F, d]` (N = B·T), past K/V
   * `[P, B·F, d]` → `[N, F*G*d]` in query-head order. The past is read where it lies:
   * FusedMatMul's batch transpose takes the token-major cache as is, and past and new keys are
   * scored separately, so the cache is neither concatenated nor transposed (on the toy model at 1K
   * context those two copies of K and V took longer than the attention matmuls themselves). Row 0
   * of the past is padding, masked out: FusedMatMul on a zero-length past kills onnxruntime 1.30
   * with SIGFPE.
   */
  private attention(
    group: Group,
    heads: number,
    q: string,
    newKey: string,
    newValue: string,
    layer: number,
  ): string {
    const { g, groupSize } = this;
    const d = this.config.headDim;
    const mask = this.masks.get(group)!;
    const t = this.perSequence;
    const shape = (...parts: (number | string)[]) => this.shape(parts);
    const q5 = g.node('Reshape', [q, shape(-1, t, heads, groupSize, d)]); // [B, T, F, G, d]
    const qH = g.node('Reshape', [
      g.node('Transpose', [q5], { perm: [0, 2, 3, 1, 4] }),
      shape(-1, this.queryRows, d),
    ]); // [B*F, G*T, d]
    // New K/V [B*T, F, d] as [T, B*F, d], the past's layout, so one batch transpose reads both.
    // With B = 1 or T = 1 (the only calls the executor makes) that is a reshape, not a transpose.
    const chunkMajor = (kv: string) => g.node('Reshape', [kv, shape(t, -1, d)]);
    const matmul = (a: string, b: string, transB: 0 | 1) =>
      g.node('FusedMatMul', [a, b], { transB, transBatchB: 1 }, { domain: MS_DOMAIN });
    const scores = g.node(
      'Concat',
      [matmul(qH, DecoderGraphNames.pastKey(group, layer), 1), matmul(qH, chunkMajor(newKey), 1)],
      { axis: 2 },
    ); // [B*F, G*T, P + T]
    // Per sequence: [B, F, G*T, P + T] + mask [B, 1, G*T, P + T].
    const scores4 = g.node('Reshape', [scores, shape(-1, heads, this.queryRows, mask.total)]);
    const probs4 = g.node('Softmax', [g.node('Add', [scores4, mask.additive])], { axis: -1 });
    const [pastProbs, newProbs] = g.nodeOutputs(
      'Split',
      [probs4, mask.split],
      { axis: 3 },
      { outputCount: 2 },
    );
    const rows3 = (x: string, columns: string) => g.node('Reshape', [x, shape(-1, this.queryRows, columns)]);
    const out = g.node('Add', [
      matmul(rows3(pastProbs!, mask.past), DecoderGraphNames.pastValue(group, layer), 0),
      matmul(rows3(newProbs!, t), chunkMajor(newValue), 0),
    ]); // [B*F, G*T, d]
    const out5 = g.node('Reshape', [out, shape(-1, heads, groupSize, t, d)]); // [B, F, G, T, d]
    const tokenMajor = g.node('Transpose', [out5], { perm: [0, 3, 1, 2, 4] }); // [B, T, F, G, d]
    return g.node('Reshape', [tokenMajor, g.int64s([-1, heads * groupSize * d])]);
  }

  /** A `[parts.length]` i64 shape from numbers and `[1]` i64 tensors, built once per distinct list. */
  private shape(parts: readonly (number | string)[]): string {
    const key = parts.join(',');
    let name = this.shapes.get(key);
    if (name === undefined) {
      const { g } = this;
      name = g.node(
        'Concat',
        parts.map((part) => (typeof part === 'number' ? g.int64s([part]) : part)),
        { axis: 0 },
      );
      this.shapes.set(key, name);
    }
    return name;
  }

  /** Rotate-half RoPE of `x` `[T, heads, d]`: x*cos|cos + (x2|x1)*(-sin|sin). */
  private rope(x: string): string {
    const { g } = this;
    const half = this.config.headDim / 2;
    const [x1, x2] = g.nodeOutputs('Split', [x, g.int64s([half, half])], { axis: 2 }, { outputCount: 2 });
    const swapped = g.node('Concat', [x2!, x1!], { axis: 2 });
    return g.node('Add', [g.node('Mul', [x, this.cos2]), g.node('Mul', [swapped, this.sinSigned])]);
  }

  /** HF RMSNorm: x / sqrt(mean(x^2) + eps) * weight, over the last axis. */
  private rmsNorm(x: string, weight: string): string {
    const { g } = this;
    const meanSquare = g.node('ReduceMean', [g.node('Pow', [x, g.float32s([2], [])])], {
      axes: [-1],
      keepdims: 1,
    });
    const rms = g.node('Sqrt', [g.node('Add', [meanSquare, g.float32s([this.config.rmsNormEps], [])])]);
    return g.node('Mul', [g.node('Div', [x, rms]), weight]);
  }

  /** `x [T, in] → [T, out]` with HF `[out, in]` weight and optional `[out]` bias. */
  /**
   * A W8A8 linear (core's quant/w8a8-linear.ts rules): per-row int8 activations (`max|x|/127`,
   * Round = half to even, clipped to ±127), MatMulInteger with int32 accumulation, then
   * `(f32(acc) · wScale) · xScale` (+ bias). Rows of zeros get scale 0 and output 0 (+ bias).
   */
  private linearInt8(x: string, name: string, linear: Int8Linear, bias?: Float32Array): string {
    const { g } = this;
    const { outFeatures: out, inFeatures } = linear;
    const weight = g.initializer(`${name}.weight_int8`, transposeInt8(linear.weight, out, inFeatures), [
      inFeatures,
      out,
    ]);
    const weightScale = g.initializer(`${name}.weight_scale`, linear.scale, [out]);
    const amax = g.node('ReduceMax', [g.node('Abs', [x])], { axes: [1], keepdims: 1 }); // [T, 1]
    const xScale = g.node('Div', [amax, g.float32s([127], [])]);
    const divisor = g.node('Where', [
      g.node('Equal', [xScale, g.float32s([0], [])]),
      g.float32s([1], []),
      xScale,
    ]);
    const rounded = g.node('Round', [g.node('Div', [x, divisor])]);
    const clipped = g.node('Clip', [rounded, g.float32s([-127], []), g.float32s([127], [])]);
    const codes = g.node('Cast', [clipped], { to: TensorDataType.int8 });
    const accumulated = g.node('MatMulInteger', [codes, weight]); // [T, out] int32
    const scaled = g.node('Mul', [g.node('Cast', [accumulated], { to: TensorDataType.float }), weightScale]);
    const y = g.node('Mul', [scaled, xScale]);
    return bias === undefined ? y : g.node('Add', [y, g.initializer(`${name}.bias`, bias, [out])]);
  }

  private linear(
    x: string,
    name: string,
    weight: Float32Array,
    out: number,
    inFeatures: number,
    bias?: Float32Array,
  ): string {
    const { g } = this;
    if (this.linearKind === 'gemm') {
      const w = g.initializer(`${name}.weight`, weight, [out, inFeatures]);
      const inputs = bias === undefined ? [x, w] : [x, w, g.initializer(`${name}.bias`, bias, [out])];
      return g.node('Gemm', inputs, { transB: 1 });
    }
    const w = g.initializer(`${name}.weight`, transpose(weight, out, inFeatures), [inFeatures, out]);
    const y = g.node('MatMul', [x, w]);
    return bias === undefined ? y : g.node('Add', [y, g.initializer(`${name}.bias`, bias, [out])]);
  }
}

/** `[rows, columns]` → `[columns, rows]` f32. */
export function transpose(source: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(source.length);
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    for (let c = 0; c < columns; c++) out[c * rows + r] = source[base + c]!;
  }
  return out;
}

/** `[rows, columns]` → `[columns, rows]` int8. */
function transposeInt8(source: Int8Array, rows: number, columns: number): Int8Array {
  const out = new Int8Array(source.length);
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    for (let c = 0; c < columns; c++) out[c * rows + r] = source[base + c]!;
  }
  return out;
}

/**
 * Int8 linears with the same input stacked by rows into one, each block's scales multiplied by its
 * factor (the softmax scale folded into q, as the float path folds it into q's weights).
 */
function stackRows(linears: readonly Int8Linear[], factors: readonly number[]): Int8Linear {
  const inFeatures = linears[0]!.inFeatures;
  const outFeatures = linears.reduce((sum, linear) => sum + linear.outFeatures, 0);
  const weight = new Int8Array(outFeatures * inFeatures);
  const scale = new Float32Array(outFeatures);
  let row = 0;
  linears.forEach((linear, index) => {
    weight.set(linear.weight, row * inFeatures);
    scale.set(
      linear.scale.map((s) => s * factors[index]!),
      row,
    );
    row += linear.outFeatures;
  });
  return { outFeatures, inFeatures, weight, scale };
}
