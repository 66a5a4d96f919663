// The gate-training loop (reference spec §2.5): per step, clamp the gates into [0, 1], draw a
// sample, let the backend compute the distillation loss and its gradient, add the L1 regulariser,
// and take one AdamW step at the scheduled learning rate. Model weights never change. Checkpoints
// are written every `checkpointEvery` steps, so a killed run loses at most that many steps.
import { createRng, foldSeed, type GateTrainer, type Rng } from '@duo-attn/core';
import { adamWStep, clampGates, createAdamWState } from './adamw.js';
import {
  loadCheckpoint,
  type RunIdentity,
  type StepRecord,
  saveCheckpoint,
  type TrainingState,
} from './checkpoint.js';
import { TrainOptionError } from './errors.js';
import { learningRateMultiplier } from './lr-schedule.js';

/** Where samples come from: one per index, drawn with the given generator. */
export interface SampleSource {
  /** Samples per epoch. */
  readonly size: number;
  sample(index: number, rng: Rng): { readonly inputIds: number[]; readonly labelPositions: number[] };
}

/** What to train and how. Defaults are the original's settings. */
export interface TrainGatesOptions {
  readonly trainer: GateTrainer;
  readonly samples: SampleSource;
  /** Optimizer steps (original: 2000). */
  readonly numSteps?: number;
  /** Peak learning rate (original: 0.02). */
  readonly lr?: number;
  /** Weight of `mean(|gate|)` in the loss (original: 0.05). */
  readonly regWeight?: number;
  /** Every gate's starting value (original: 1, all heads full attention). */
  readonly initialValue?: number;
  /** Starting gates, `[numLayers * numKvHeads]` (e.g. an earlier pattern); overrides `initialValue`. */
  readonly initialGates?: ArrayLike<number>;
  /** Seed of the sample order and of every sample's draws. */
  readonly seed?: number;
  /** Write a checkpoint here every `checkpointEvery` steps and resume from it when it exists. */
  readonly checkpointPath?: string;
  /** Default 50 (the original's save_steps). */
  readonly checkpointEvery?: number;
  /**
   * Settings a resumed checkpoint must share (model shape, objective, data); the loop adds its own
   * (steps, lr, regWeight, initial value, seed).
   */
  readonly identity?: RunIdentity;
  /** Called after every step with its record and the gates after the update. */
  readonly onStep?: (record: StepRecord, gates: Float64Array, state: TrainingState) => void | Promise<void>;
  /** Called after each checkpoint is written. */
  readonly onCheckpoint?: (state: TrainingState) => void | Promise<void>;
  /** Stops after the step in progress; the state so far is checkpointed and returned. */
  readonly signal?: AbortSignal;
}

/** How a run ended. */
export interface TrainGatesResult {
  readonly state: TrainingState;
  /** The step a resumed run started from (0 for a fresh run). */
  readonly resumedFrom: number;
  /** False when the signal stopped the run before `numSteps`. */
  readonly complete: boolean;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new TrainOptionError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** The sample index of step `step`: epochs are seeded permutations of the grid, as a shuffling loader. */
export function sampleIndexOfStep(step: number, size: number, seed: number): number {
  const epoch = Math.floor(step / size);
  const rng = createRng(foldSeed(seed * 7919 + epoch * 104_729 + 1));
  const order = Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = rng.nextUint32() % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order[step % size]!;
}

/** The generator a step's sample is drawn with: a function of (seed, step) only, so runs resume exactly. */
export function sampleRngOfStep(step: number, seed: number): Rng {
  return createRng(foldSeed(seed * 15_485_863 + step * 2_654_435_761 + 3));
}

/** Trains the gates; resumes from `checkpointPath` when a checkpoint of this run is there. */
export async function trainGates(options: TrainGatesOptions): Promise<TrainGatesResult> {
  const { trainer, samples } = options;
  const numSteps = positiveInteger(options.numSteps ?? 2000, 'numSteps');
  learningRateMultiplier(0, numSteps);
  const lr = options.lr ?? 0.02;
  const regWeight = options.regWeight ?? 0.05;
  const initialValue = options.initialValue ?? 1;
  const seed = options.seed ?? 42;
  const checkpointEvery = positiveInteger(options.checkpointEvery ?? 50, 'checkpointEvery');
  for (const [name, value] of [
    ['lr', lr],
    ['regWeight', regWeight],
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0))
      throw new TrainOptionError(`${name} must be a number >= 0, got ${value}`);
  }
  if (!(initialValue >= 0 && initialValue <= 1)) {
    throw new TrainOptionError(`initialValue must be in [0, 1], got ${initialValue}`);
  }
  if (!Number.isSafeInteger(seed)) throw new TrainOptionError(`seed must be a safe integer, got ${seed}`);
  if (samples.size < 1) throw new TrainOptionError('the sample source is empty');
  const { numLayers, numKvHeads } = trainer.config;
  const size = numLayers * numKvHeads;
  const identity: RunIdentity = {
    ...options.identity,
    numLayers,
    numKvHeads,
    numSteps,
    lr,
    regWeight,
    initialValue,
    seed,
  };

  const resumed =
    options.checkpointPath !== undefined ? await loadCheckpoint(options.checkpointPath, identity) : undefined;
  if (options.initialGates !== undefined && options.initialGates.length !== size) {
    throw new TrainOptionError(
      `${options.initialGates.length} initial gates given; the model has ${numLayers} x ${numKvHeads} = ${size}`,
    );
  }
  const state: TrainingState = resumed ?? {
    step: 0,
    gates:
      options.initialGates !== undefined
        ? Float64Array.from(options.initialGates)
        : new Float64Array(size).fill(initialValue),
    adam: createAdamWState(size),
    history: [],
  };
  if (state.gates.length !== size) {
    throw new TrainOptionError(`the checkpoint holds ${state.gates.length} gates, the model ${size}`);
  }
  const resumedFrom = state.step;
  const checkpoint = async () => {
    if (options.checkpointPath === undefined) return;
    await saveCheckpoint(options.checkpointPath, identity, state);
    await options.onCheckpoint?.(state);
  };

  while (state.step < numSteps) {
    if (options.signal?.aborted) {
      await checkpoint();
      return { state, resumedFrom, complete: false };
    }
    const step = state.step;
    const started = performance.now();
    clampGates(state.gates);
    const sample = samples.sample(sampleIndexOfStep(step, samples.size, seed), sampleRngOfStep(step, seed));
    const result = await trainer.step({
      inputIds: sample.inputIds,
      labelPositions: sample.labelPositions,
      gates: state.gates,
    });
    // The regulariser: mean(|gate|) (the gates are clamped, so >= 0), torch's sign(0) = 0 in its gradient.
    let regLoss = 0;
    const gradient = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const gate = state.gates[i]!;
      regLoss += Math.abs(gate) / size;
      gradient[i] = result.gradient[i]! + (regWeight * Math.sign(gate)) / size;
    }
    const stepLr = lr * learningRateMultiplier(step, numSteps);
    adamWStep(state.gates, gradient, state.adam, { lr }, stepLr);
    state.step = step + 1;
    const record: StepRecord = {
      step,
      loss: result.distillationLoss + regWeight * regLoss,
      distillationLoss: result.distillationLoss,
      regLoss,
      lr: stepLr,
      tokens: sample.inputIds.length,
      ms: performance.now() - started,
    };
    state.history.push(record);
    await options.onStep?.(record, state.gates, state);
    if (state.step % checkpointEvery === 0 || state.step === numSteps) await checkpoint();
  }
  return { state, resumedFrom, complete: true };
}
