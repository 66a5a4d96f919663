// The reference gate trainer: DuoAttention's training objective (training/gate-trainer.ts) with its
// backward pass written out by hand in float64 loops. It is the oracle the other backends' gradients
// are checked against and trains tiny models; clarity wins over speed everywhere here.
//
// Only the student needs a backward pass, and only with respect to its inputs: weights are frozen,
// so each linear layer's backward is one product with the weight (dx = dy W), never a weight update.

import { AbortedError, DisposedError } from '../backend/backend-errors.js';
import type { ModelConfig, ModelWeights } from '../model/model-types.js';
import { ropeFrequencies } from '../model/rope.js';
import type {
  GateTrainer,
  GateTrainerOptions,
  GateTrainingRequest,
  GateTrainingResult,
} from '../training/gate-trainer.js';
import { type TrainingStreamingMask, visibleKeyRanges } from '../training/streaming-mask.js';
import { checkGateTrainingRequest } from '../training/validate-training.js';

/** `y[t, o] = sum_i x[t, i] W[o, i] (+ b[o])`: a linear layer in HF's `[out, in]` layout. */
function linearForward(
  x: Float64Array,
  rows: number,
  weight: Float32Array,
  inFeatures: number,
  outFeatures: number,
  bias?: Float32Array,
): Float64Array {
  const y = new Float64Array(rows * outFeatures);
  for (let t = 0; t < rows; t++) {
    const xb = t * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wb = o * inFeatures;
      let sum = 0;
      for (let i = 0; i < inFeatures; i++) sum += x[xb + i]! * weight[wb + i]!;
      y[t * outFeatures + o] = bias === undefined ? sum : sum + bias[o]!;
    }
  }
  return y;
}

/** `dx[t, i] += sum_o dy[t, o] W[o, i]`: the input gradient of {@link linearForward}. */
function linearBackwardInto(
  dx: Float64Array,
  dy: Float64Array,
  rows: number,
  weight: Float32Array,
  inFeatures: number,
  outFeatures: number,
): void {
  for (let t = 0; t < rows; t++) {
    const xb = t * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const g = dy[t * outFeatures + o]!;
      if (g === 0) continue;
      const wb = o * inFeatures;
      for (let i = 0; i < inFeatures; i++) dx[xb + i] = dx[xb + i]! + g * weight[wb + i]!;
    }
  }
}

/** RMSNorm: `y = w * x / sqrt(mean(x^2) + eps)`; also returns each row's `1 / sqrt(...)`. */
function rmsNormForward(x: Float64Array, rows: number, size: number, weight: Float32Array, eps: number) {
  const y = new Float64Array(rows * size);
  const inverse = new Float64Array(rows);
  for (let t = 0; t < rows; t++) {
    let squares = 0;
    for (let i = 0; i < size; i++) squares += x[t * size + i]! ** 2;
    const r = 1 / Math.sqrt(squares / size + eps);
    inverse[t] = r;
    for (let i = 0; i < size; i++) y[t * size + i] = weight[i]! * x[t * size + i]! * r;
  }
  return { y, inverse };
}

/** Input gradient of RMSNorm: `dx = r g - x r^3 (g . x) / size` with `g = dy * w`. */
function rmsNormBackward(
  dy: Float64Array,
  x: Float64Array,
  inverse: Float64Array,
  rows: number,
  size: number,
  weight: Float32Array,
): Float64Array {
  const dx = new Float64Array(rows * size);
  for (let t = 0; t < rows; t++) {
    const r = inverse[t]!;
    let dot = 0;
    for (let i = 0; i < size; i++) dot += dy[t * size + i]! * weight[i]! * x[t * size + i]!;
    const c = (r * r * r * dot) / size;
    for (let i = 0; i < size; i++) {
      dx[t * size + i] = r * dy[t * size + i]! * weight[i]! - c * x[t * size + i]!;
    }
  }
  return dx;
}

/** cos/sin `[rows, headDim/2]` in float64 from the model's (float32-valued) inverse frequencies. */
function ropeTables(config: ModelConfig, rows: number) {
  const frequencies = ropeFrequencies(
    config.rope,
    config.headDim,
    config.rope.type === 'dynamic' ? Math.max(rows, config.maxPositionEmbeddings) : undefined,
  );
  const half = config.headDim / 2;
  const cos = new Float64Array(rows * half);
  const sin = new Float64Array(rows * half);
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < half; j++) {
      const angle = t * frequencies.inverseFrequencies[j]!;
      cos[t * half + j] = Math.cos(angle) * frequencies.attentionScaling;
      sin[t * half + j] = Math.sin(angle) * frequencies.attentionScaling;
    }
  }
  return { cos, sin };
}

/**
 * Rotate-half RoPE of `x` `[rows, heads, d]` in place; `inverse` applies the transposed rotation
 * (the backward pass: the rotation is orthogonal up to the attention scaling, which is symmetric).
 */
function rope(
  x: Float64Array,
  rows: number,
  heads: number,
  d: number,
  cos: Float64Array,
  sin: Float64Array,
  inverse = false,
) {
  const half = d / 2;
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * d;
      for (let j = 0; j < half; j++) {
        const c = cos[t * half + j]!;
        const s = inverse ? -sin[t * half + j]! : sin[t * half + j]!;
        const a = x[base + j]!;
        const b = x[base + j + half]!;
        x[base + j] = a * c - b * s;
        x[base + j + half] = b * c + a * s;
      }
    }
  }
}

/** Keys each query sees: every earlier key (full) or the training mask's (streaming). */
type Visibility = (query: number) => [number, number][];

/** One attention call's saved state: per query head and query, the probabilities over visible keys. */
interface AttentionState {
  readonly out: Float64Array;
  /** `[heads][rows]` -> visible key ranges and their probabilities, in range order. */
  readonly ranges: [number, number][][];
  readonly probabilities: Float64Array[][];
}

function attentionForward(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  rows: number,
  config: ModelConfig,
  visible: Visibility,
  keepState: boolean,
): AttentionState {
  const { numHeads, numKvHeads, headDim: d } = config;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(d);
  const out = new Float64Array(rows * numHeads * d);
  const ranges: [number, number][][] = [];
  const probabilities: Float64Array[][] = [];
  for (let t = 0; t < rows; t++) ranges.push(visible(t));
  for (let h = 0; h < numHeads; h++) {
    const g = Math.floor(h / group);
    const perQuery: Float64Array[] = [];
    for (let t = 0; t < rows; t++) {
      const keys = ranges[t]!;
      const count = keys.reduce((n, [a, b]) => n + b - a, 0);
      const p = new Float64Array(count);
      let max = Number.NEGATIVE_INFINITY;
      let n = 0;
      for (const [a, b] of keys) {
        for (let j = a; j < b; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++)
            dot += q[(t * numHeads + h) * d + c]! * k[(j * numKvHeads + g) * d + c]!;
          p[n] = dot * scale;
          max = Math.max(max, p[n]!);
          n++;
        }
      }
      let sum = 0;
      for (let i = 0; i < count; i++) {
        p[i] = Math.exp(p[i]! - max);
        sum += p[i]!;
      }
      n = 0;
      for (const [a, b] of keys) {
        for (let j = a; j < b; j++) {
          const w = p[n]! / sum;
          p[n] = w;
          for (let c = 0; c < d; c++)
            out[(t * numHeads + h) * d + c] =
              out[(t * numHeads + h) * d + c]! + w * v[(j * numKvHeads + g) * d + c]!;
          n++;
        }
      }
      if (keepState) perQuery.push(p);
    }
    probabilities.push(perQuery);
  }
  return { out, ranges, probabilities };
}

/** Backward of {@link attentionForward}: accumulates dq, dk, dv from dOut. */
function attentionBackward(
  state: AttentionState,
  dOut: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  rows: number,
  config: ModelConfig,
) {
  const { numHeads, numKvHeads, headDim: d } = config;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(d);
  const dq = new Float64Array(rows * numHeads * d);
  const dk = new Float64Array(rows * numKvHeads * d);
  const dv = new Float64Array(rows * numKvHeads * d);
  for (let h = 0; h < numHeads; h++) {
    const g = Math.floor(h / group);
    for (let t = 0; t < rows; t++) {
      const p = state.probabilities[h]![t]!;
      const dp = new Float64Array(p.length);
      let n = 0;
      let weighted = 0;
      for (const [a, b] of state.ranges[t]!) {
        for (let j = a; j < b; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) {
            const go = dOut[(t * numHeads + h) * d + c]!;
            dot += go * v[(j * numKvHeads + g) * d + c]!;
            dv[(j * numKvHeads + g) * d + c] = dv[(j * numKvHeads + g) * d + c]! + p[n]! * go;
          }
          dp[n] = dot;
          weighted += dot * p[n]!;
          n++;
        }
      }
      n = 0;
      for (const [a, b] of state.ranges[t]!) {
        for (let j = a; j < b; j++) {
          const ds = p[n]! * (dp[n]! - weighted) * scale;
          for (let c = 0; c < d; c++) {
            dq[(t * numHeads + h) * d + c] =
              dq[(t * numHeads + h) * d + c]! + ds * k[(j * numKvHeads + g) * d + c]!;
            dk[(j * numKvHeads + g) * d + c] =
              dk[(j * numKvHeads + g) * d + c]! + ds * q[(t * numHeads + h) * d + c]!;
          }
          n++;
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** What the student keeps of a layer for its backward pass. */
interface LayerTape {
  readonly input: Float64Array;
  readonly norm1: { y: Float64Array; inverse: Float64Array };
  readonly q: Float64Array;
  readonly k: Float64Array;
  readonly v: Float64Array;
  readonly streaming: AttentionState;
  readonly mixed: Float64Array;
  readonly middle: Float64Array;
  readonly norm2: { y: Float64Array; inverse: Float64Array };
  readonly gate: Float64Array;
  readonly up: Float64Array;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** The float64 gate trainer of the reference backend. */
export class ReferenceGateTrainer implements GateTrainer {
  readonly backendName = 'reference';
  readonly config: ModelConfig;
  readonly maxTokens: number;
  private readonly mask: TrainingStreamingMask;
  private weights: ModelWeights | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(config: ModelConfig, weights: ModelWeights, options: GateTrainerOptions) {
    this.config = config;
    this.weights = weights;
    this.mask = options.mask;
    this.maxTokens = options.maxTokens;
  }

  step(request: GateTrainingRequest): Promise<GateTrainingResult> {
    if (this.weights === undefined) return Promise.reject(new DisposedError('step'));
    try {
      checkGateTrainingRequest(this.config, this.maxTokens, request);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.queue.then(() => {
      if (this.weights === undefined) throw new DisposedError('step');
      if (request.signal?.aborted) throw new AbortedError('gate training step', request.signal.reason);
      return this.compute(this.weights, request);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async dispose(): Promise<void> {
    this.weights = undefined;
    await this.queue;
  }

  private compute(weights: ModelWeights, request: GateTrainingRequest): GateTrainingResult {
    const config = this.config;
    const { hiddenSize: D, numHeads, numKvHeads, headDim: d, intermediateSize: I, rmsNormEps: eps } = config;
    const rows = request.inputIds.length;
    const group = numHeads / numKvHeads;
    const { cos, sin } = ropeTables(config, rows);
    const full: Visibility = (t) => [[0, t + 1]];
    const streaming: Visibility = (t) => visibleKeyRanges(this.mask, t);
    const embed = (): Float64Array => {
      const x = new Float64Array(rows * D);
      request.inputIds.forEach((id, t) => {
        for (let i = 0; i < D; i++) x[t * D + i] = weights.embedTokens[id * D + i]!;
      });
      return x;
    };
    const gates = Array.from(request.gates, (g) => Math.min(1, Math.max(0, g)));

    // Teacher: full attention everywhere; keeps each layer's attention output F for the student.
    const teacherF: Float64Array[] = [];
    let x = embed();
    for (const layer of weights.layers) {
      const n1 = rmsNormForward(x, rows, D, layer.inputNorm, eps);
      const q = linearForward(n1.y, rows, layer.qProj, D, numHeads * d, layer.qBias);
      const k = linearForward(n1.y, rows, layer.kProj, D, numKvHeads * d, layer.kBias);
      const v = linearForward(n1.y, rows, layer.vProj, D, numKvHeads * d, layer.vBias);
      rope(q, rows, numHeads, d, cos, sin);
      rope(k, rows, numKvHeads, d, cos, sin);
      const attention = attentionForward(q, k, v, rows, config, full, false);
      teacherF.push(attention.out);
      x = this.finishLayer(x, attention.out, layer, rows).out;
    }
    const teacherFinal = rmsNormForward(x, rows, D, weights.norm, eps).y;

    // Student: gated mix of the teacher's F and its own streaming attention; taped for backward.
    const tapes: LayerTape[] = [];
    x = embed();
    weights.layers.forEach((layer, l) => {
      const input = x;
      const norm1 = rmsNormForward(input, rows, D, layer.inputNorm, eps);
      const q = linearForward(norm1.y, rows, layer.qProj, D, numHeads * d, layer.qBias);
      const k = linearForward(norm1.y, rows, layer.kProj, D, numKvHeads * d, layer.kBias);
      const v = linearForward(norm1.y, rows, layer.vProj, D, numKvHeads * d, layer.vBias);
      rope(q, rows, numHeads, d, cos, sin);
      rope(k, rows, numKvHeads, d, cos, sin);
      const stream = attentionForward(q, k, v, rows, config, streaming, true);
      const mixed = new Float64Array(rows * numHeads * d);
      const F = teacherF[l]!;
      for (let t = 0; t < rows; t++) {
        for (let h = 0; h < numHeads; h++) {
          const a = gates[l * numKvHeads + Math.floor(h / group)]!;
          for (let c = 0; c < d; c++) {
            const index = (t * numHeads + h) * d + c;
            mixed[index] = a * F[index]! + (1 - a) * stream.out[index]!;
          }
        }
      }
      const step = this.finishLayer(input, mixed, layer, rows);
      tapes.push({ input, norm1, q, k, v, streaming: stream, mixed, ...step.tape });
      x = step.out;
    });
    const studentNorm = rmsNormForward(x, rows, D, weights.norm, eps);

    // Loss and its gradient at the final norm.
    const labels = request.labelPositions;
    let loss = 0;
    const dFinal = new Float64Array(rows * D);
    for (const t of labels) {
      for (let i = 0; i < D; i++) {
        const diff = studentNorm.y[t * D + i]! - teacherFinal[t * D + i]!;
        loss += (diff * diff) / D;
        dFinal[t * D + i] = (2 * diff) / (D * labels.length);
      }
    }
    loss /= labels.length;

    // Backward through the student.
    const gradient = new Float64Array(config.numLayers * numKvHeads);
    let dx = rmsNormBackward(dFinal, x, studentNorm.inverse, rows, D, weights.norm);
    for (let l = weights.layers.length - 1; l >= 0; l--) {
      const layer = weights.layers[l]!;
      const tape = tapes[l]!;
      // MLP: out = middle + down(silu(gate) * up), gate/up from norm2(middle).
      const dAct = new Float64Array(rows * I);
      linearBackwardInto(dAct, dx, rows, layer.downProj, I, D);
      const dGate = new Float64Array(rows * I);
      const dUp = new Float64Array(rows * I);
      for (let i = 0; i < rows * I; i++) {
        const g = tape.gate[i]!;
        const s = sigmoid(g);
        dUp[i] = dAct[i]! * g * s;
        dGate[i] = dAct[i]! * tape.up[i]! * s * (1 + g * (1 - s));
      }
      const dNorm2 = new Float64Array(rows * D);
      linearBackwardInto(dNorm2, dGate, rows, layer.gateProj, D, I);
      linearBackwardInto(dNorm2, dUp, rows, layer.upProj, D, I);
      const dMiddle = rmsNormBackward(
        dNorm2,
        tape.middle,
        tape.norm2.inverse,
        rows,
        D,
        layer.postAttentionNorm,
      );
      for (let i = 0; i < rows * D; i++) dMiddle[i] = dMiddle[i]! + dx[i]!;
      // Attention: middle = input + o_proj(mixed).
      const dMixed = new Float64Array(rows * numHeads * d);
      linearBackwardInto(dMixed, dMiddle, rows, layer.oProj, numHeads * d, D);
      const F = teacherF[l]!;
      const dStream = new Float64Array(rows * numHeads * d);
      for (let t = 0; t < rows; t++) {
        for (let h = 0; h < numHeads; h++) {
          const kv = Math.floor(h / group);
          const a = gates[l * numKvHeads + kv]!;
          let sum = 0;
          for (let c = 0; c < d; c++) {
            const index = (t * numHeads + h) * d + c;
            sum += (F[index]! - tape.streaming.out[index]!) * dMixed[index]!;
            dStream[index] = (1 - a) * dMixed[index]!;
          }
          gradient[l * numKvHeads + kv] = gradient[l * numKvHeads + kv]! + sum;
        }
      }
      const { dq, dk, dv } = attentionBackward(tape.streaming, dStream, tape.q, tape.k, tape.v, rows, config);
      rope(dq, rows, numHeads, d, cos, sin, true);
      rope(dk, rows, numKvHeads, d, cos, sin, true);
      const dNorm1 = new Float64Array(rows * D);
      linearBackwardInto(dNorm1, dq, rows, layer.qProj, D, numHeads * d);
      linearBackwardInto(dNorm1, dk, rows, layer.kProj, D, numKvHeads * d);
      linearBackwardInto(dNorm1, dv, rows, layer.vProj, D, numKvHeads * d);
      const dInput = rmsNormBackward(dNorm1, tape.input, tape.norm1.inverse, rows, D, layer.inputNorm);
      for (let i = 0; i < rows * D; i++) dInput[i] = dInput[i]! + dMiddle[i]!;
      dx = dInput;
    }
    return { distillationLoss: loss, gradient };
  }

  /** o_proj, residual, RMSNorm, SwiGLU MLP, residual: the layer after its attention output. */
  private finishLayer(
    input: Float64Array,
    attention: Float64Array,
    layer: ModelWeights['layers'][number],
    rows: number,
  ) {
    const { hiddenSize: D, numHeads, headDim: d, intermediateSize: I, rmsNormEps: eps } = this.config;
    const projected = linearForward(attention, rows, layer.oProj, numHeads * d, D);
    const middle = new Float64Array(rows * D);
    for (let i = 0; i < rows * D; i++) middle[i] = input[i]! + projected[i]!;
    const norm2 = rmsNormForward(middle, rows, D, layer.postAttentionNorm, eps);
    const gate = linearForward(norm2.y, rows, layer.gateProj, D, I, layer.gateBias);
    const up = linearForward(norm2.y, rows, layer.upProj, D, I, layer.upBias);
    const act = new Float64Array(rows * I);
    for (let i = 0; i < rows * I; i++) act[i] = gate[i]! * sigmoid(gate[i]!) * up[i]!;
    const down = linearForward(act, rows, layer.downProj, I, D, layer.downBias);
    const out = new Float64Array(rows * D);
    for (let i = 0; i < rows * D; i++) out[i] = middle[i]! + down[i]!;
    return { out, tape: { middle, norm2, gate, up } };
  }
}
