// The grids the original draws training samples from, reproduced bit for bit: context lengths from
// torch's integer linspace (steps in double, truncated toward zero) and needle depths from torch's
// float32 linspace. Each computes the first half of its points from the start and the second half
// from the end, as torch's kernel does.
import { TrainOptionError } from './errors.js';

function checkSteps(steps: number, what: string): void {
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new TrainOptionError(`${what} needs at least 1 point, got ${steps}`);
  }
}

/**
 * `torch.linspace(start, end, steps, dtype=int64)`: e.g. 1000..32000 in 50 points gives 1000, 1632,
 * 2265, ..., 31367, 32000.
 */
export function integerLinspace(start: number, end: number, steps: number): number[] {
  checkSteps(steps, 'the context-length grid');
  if (steps === 1) return [Math.trunc(start)];
  const step = (end - start) / (steps - 1);
  const halfway = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) =>
    Math.trunc(i < halfway ? start + step * i : end - step * (steps - 1 - i)),
  );
}

/**
 * `torch.linspace(start, end, steps)` in float32: torch's formula (a float32 step; the first half
 * of the points counted from the start, the second half from the end), each operation rounded to
 * float32. torch's own kernels vectorize and fuse differently per build and CPU, so its values can
 * differ from these (and between torch builds) by one float32 ulp; a depth only sets an insertion
 * point, `trunc(length * depth)`, which that moves by at most one token.
 */
export function float32Linspace(start: number, end: number, steps: number): number[] {
  checkSteps(steps, 'the depth grid');
  const f = Math.fround;
  const a = f(start);
  const b = f(end);
  if (steps === 1) return [a];
  const step = f(f(b - a) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) =>
    i < halfway ? f(a + f(step * i)) : f(b - f(step * (steps - 1 - i))),
  );
}
