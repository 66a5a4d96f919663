// Typed wrappers over the addon's one-shot RMSNorm: validate shapes here (so errors name the
// argument) and turn addon failures into typed errors. Each call copies host -> GPU -> host.
import { loadBinding, type NativeBinding } from '../binding.js';
import { CudaInputError, CudaRuntimeError, CudaUnavailableError } from '../errors.js';

/** The shape of an RMSNorm call: `rows` vectors of `cols` values each, normalised independently. */
export interface RmsNormShape {
  readonly rows: number;
  readonly cols: number;
  /** Added to mean(x^2) before the reciprocal square root (the model's `rms_norm_eps`). */
  readonly eps: number;
}

const MAX_INT32 = 2_147_483_647;

function checkShape(
  operation: string,
  input: ArrayLike<number>,
  weight: ArrayLike<number>,
  shape: RmsNormShape,
): void {
  const { rows, cols, eps } = shape;
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_INT32) {
    throw new CudaInputError(`${operation}: rows must be an integer in [1, ${MAX_INT32}], got ${rows}`);
  }
  if (!Number.isInteger(cols) || cols < 1 || cols > MAX_INT32) {
    throw new CudaInputError(`${operation}: cols must be an integer in [1, ${MAX_INT32}], got ${cols}`);
  }
  if (!Number.isFinite(eps) || eps < 0) {
    throw new CudaInputError(`${operation}: eps must be finite and >= 0, got ${eps}`);
  }
  if (input.length !== rows * cols) {
    throw new CudaInputError(
      `${operation}: input has ${input.length} elements, expected rows * cols = ${rows} * ${cols} = ${rows * cols}`,
    );
  }
  if (weight.length !== cols) {
    throw new CudaInputError(`${operation}: weight has ${weight.length} elements, expected cols = ${cols}`);
  }
}

function requireBinding(): NativeBinding {
  const load = loadBinding();
  if (!load.available) throw new CudaUnavailableError(load.reason);
  return load.binding;
}

/**
 * RMSNorm on the GPU with Hugging Face LlamaRMSNorm semantics in bf16:
 * `y = weight * bf16(x * rsqrt(mean(x^2) + eps))`, the statistics in fp32.
 * input: [rows, cols] bf16 bits; weight: [cols] bf16 bits; resolves to [rows, cols] bf16 bits.
 * The arrays must not change until the promise settles. Rejects with CudaInputError (shapes),
 * CudaUnavailableError (no addon) or CudaRuntimeError (a CUDA call failed, e.g. no GPU).
 */
export async function rmsNorm(
  input: Uint16Array,
  weight: Uint16Array,
  shape: RmsNormShape,
): Promise<Uint16Array> {
  if (!(input instanceof Uint16Array) || !(weight instanceof Uint16Array)) {
    throw new CudaInputError('rmsNorm: input and weight must be Uint16Array (bf16 bit patterns)');
  }
  checkShape('rmsNorm', input, weight, shape);
  const binding = requireBinding();
  try {
    return await binding.rmsNorm(input, weight, shape.rows, shape.cols, shape.eps);
  } catch (error) {
    throw new CudaRuntimeError('rmsNorm', error);
  }
}

/**
 * RMSNorm on the GPU in fp32 throughout: `y = weight * (x * rsqrt(mean(x^2) + eps))`.
 * input: [rows, cols] f32; weight: [cols] f32; resolves to [rows, cols] f32. Errors as rmsNorm.
 */
export async function rmsNormF32(
  input: Float32Array,
  weight: Float32Array,
  shape: RmsNormShape,
): Promise<Float32Array> {
  if (!(input instanceof Float32Array) || !(weight instanceof Float32Array)) {
    throw new CudaInputError('rmsNormF32: input and weight must be Float32Array');
  }
  checkShape('rmsNormF32', input, weight, shape);
  const binding = requireBinding();
  try {
    return await binding.rmsNormF32(input, weight, shape.rows, shape.cols, shape.eps);
  } catch (error) {
    throw new CudaRuntimeError('rmsNormF32', error);
  }
}
