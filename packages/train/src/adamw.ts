// AdamW over the gates, as torch.optim.AdamW computes it (amsgrad off), in float64. The original
// keeps gates and moments in bf16 under FSDP; float64 here makes a run reproducible to the last bit
// and the backends' rounding the only difference between them.
import { TrainOptionError } from './errors.js';

/** AdamW hyper-parameters (torch defaults except the learning rate). */
export interface AdamWOptions {
  /** Peak learning rate (the original uses 0.02). */
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** Decoupled weight decay (the original uses 0). */
  readonly weightDecay?: number;
}

/** Optimizer state, serialisable for checkpoints. */
export interface AdamWState {
  /** Steps taken so far. */
  step: number;
  /** First moments, one per parameter. */
  readonly m: Float64Array;
  /** Second moments. */
  readonly v: Float64Array;
}

/** Fresh state for `size` parameters. */
export function createAdamWState(size: number): AdamWState {
  return { step: 0, m: new Float64Array(size), v: new Float64Array(size) };
}

/**
 * One AdamW step at learning rate `lr` (the schedule's value for this step), updating `params` and
 * `state` in place: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
 * `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)` after `p *= 1 - lr * weightDecay`.
 */
export function adamWStep(
  params: Float64Array,
  gradient: ArrayLike<number>,
  state: AdamWState,
  options: AdamWOptions,
  lr: number,
): void {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const weightDecay = options.weightDecay ?? 0;
  if (gradient.length !== params.length || state.m.length !== params.length) {
    throw new TrainOptionError(
      `AdamW: ${params.length} parameters but ${gradient.length} gradients and ${state.m.length} moments`,
    );
  }
  state.step += 1;
  const t = state.step;
  const correction1 = 1 - beta1 ** t;
  const correction2Sqrt = Math.sqrt(1 - beta2 ** t);
  const stepSize = lr / correction1;
  for (let i = 0; i < params.length; i++) {
    const g = gradient[i]!;
    if (!Number.isFinite(g)) throw new TrainOptionError(`AdamW: gradient ${i} is ${g}`);
    if (weightDecay !== 0) params[i]! *= 1 - lr * weightDecay;
    // The operations in torch's order (m by lerp, v by addcmul, p by addcdiv), so float64 runs agree
    // with torch to the last bits.
    const m = state.m[i]!;
    state.m[i] = m + (1 - beta1) * (g - m);
    state.v[i] = state.v[i]! * beta2 + (1 - beta2) * g * g;
    const denominator = Math.sqrt(state.v[i]!) / correction2Sqrt + eps;
    params[i] = params[i]! + (-stepSize * state.m[i]!) / denominator;
  }
}

/** Clamps every gate into [0, 1] in place (the original does this before each step). */
export function clampGates(gates: Float64Array): void {
  for (let i = 0; i < gates.length; i++) gates[i] = Math.min(1, Math.max(0, gates[i]!));
}
