// The gate-training contract (DESIGN §3 and §4): a backend that can train computes, for one sample,
// the distillation loss of DuoAttention's objective and its gradient with respect to every gate.
// The optimizer, the schedule, the regulariser and checkpoints live in @duo-attn/train, so every
// backend only owns the expensive part: the two-way forward and the student's backward pass.
//
// Semantics, shared by all backends (the original's, reference spec §2.2):
// - the teacher runs full causal attention everywhere, without gradients;
// - the student runs, per KV head h of layer l, `a * F + (1 - a) * S` before o_proj, where
//   `a = clamp(gate[l][h], 0, 1)` (the gradient passes for gates inside [0, 1], ends included),
//   F is the teacher's attention output at that layer and head (detached) and S the streaming
//   attention of the student's own q/k/v under the training mask (see `visibleKeyRanges`);
// - GQA query heads share their KV head's gate;
// - distillation loss = mean over label positions of mean over hidden of
//   (h_teacher - h_student)^2, with h the final RMSNorm output (no LM head).
import type { ModelConfig } from '../model/model-types.js';
import type { TrainingStreamingMask } from './streaming-mask.js';

/** How a trainer is set up. */
export interface GateTrainerOptions {
  /** The streaming heads' mask during training. */
  readonly mask: TrainingStreamingMask;
  /** Longest sample (tokens) the trainer must take; bounds preallocated buffers. */
  readonly maxTokens: number;
}

/** One sample's step. */
export interface GateTrainingRequest {
  readonly inputIds: readonly number[];
  /** Positions whose final hidden states enter the loss (ascending, distinct, inside the sample). */
  readonly labelPositions: readonly number[];
  /** `[numLayers * numKvHeads]`, layer-major, original head order. */
  readonly gates: ArrayLike<number>;
  readonly signal?: AbortSignal;
}

/** The distillation loss of a sample and its gradient. */
export interface GateTrainingResult {
  readonly distillationLoss: number;
  /** d(distillation loss)/d(gate), `[numLayers * numKvHeads]`, layer-major. */
  readonly gradient: Float64Array;
}

/** A loaded model that computes gate-training steps. */
export interface GateTrainer {
  readonly backendName: string;
  readonly config: ModelConfig;
  readonly maxTokens: number;
  /** Runs teacher, student and backward pass for one sample. Calls run one at a time. */
  step(request: GateTrainingRequest): Promise<GateTrainingResult>;
  dispose(): Promise<void>;
}
