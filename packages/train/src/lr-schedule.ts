// The original's learning-rate schedule (LambdaLR), reproduced exactly: a trapezoid with linear
// warm-up over the first fifth of the steps, a plateau, and linear decay over the last fifth, never
// below 10% of the peak.
import { TrainOptionError } from './errors.js';

/**
 * The multiplier of the peak learning rate at optimizer step `step` (0-based) of `numSteps`:
 * `min(1, max((step + 1) / W, 0.1), max((numSteps - step) / W, 0.1))` with `W = floor(numSteps / 5)`.
 * For 2000 steps: 0.1 up to step 39, (step + 1) / 400 up to 1 at step 399, 1 until step 1600, then
 * (2000 - step) / 400 down to the 0.1 floor from step 1960.
 */
export function learningRateMultiplier(step: number, numSteps: number): number {
  if (!Number.isSafeInteger(numSteps) || numSteps < 5) {
    throw new TrainOptionError(
      `numSteps must be an integer >= 5 (the schedule needs a fifth of it), got ${numSteps}`,
    );
  }
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new TrainOptionError(`step must be a non-negative integer, got ${step}`);
  }
  const warmup = Math.floor(numSteps / 5);
  return Math.min(1, Math.max((step + 1) / warmup, 0.1), Math.max((numSteps - step) / warmup, 0.1));
}
