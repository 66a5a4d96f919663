import { describe, expect, it } from 'vitest';
import { loadBinding } from '../binding.js';
import { CudaInputError, CudaRuntimeError, CudaUnavailableError } from '../errors.js';
import { nvidiaDevicePresent } from '../test-support/nvidia-device-present.js';
import { rmsNorm, rmsNormF32 } from './rms-norm.js';

describe('rmsNorm input checks', () => {
  const input = new Uint16Array(8);
  const weight = new Uint16Array(4);

  it.each([
    [{ rows: 0, cols: 4, eps: 1e-6 }, /rows must be an integer/],
    [{ rows: 2.5, cols: 4, eps: 1e-6 }, /rows must be an integer/],
    [{ rows: 2, cols: -4, eps: 1e-6 }, /cols must be an integer/],
    [{ rows: 2, cols: 4, eps: Number.NaN }, /eps must be finite/],
    [{ rows: 2, cols: 4, eps: -1 }, /eps must be finite and >= 0/],
    [{ rows: 3, cols: 4, eps: 1e-6 }, /input has 8 elements, expected rows \* cols = 3 \* 4 = 12/],
  ])('rejects %o', async (shape, message) => {
    const call = rmsNorm(input, weight, shape);
    await expect(call).rejects.toBeInstanceOf(CudaInputError);
    await expect(rmsNorm(input, weight, shape)).rejects.toThrow(message);
  });

  it('rejects a weight of the wrong length', async () => {
    await expect(rmsNorm(input, new Uint16Array(3), { rows: 2, cols: 4, eps: 0 })).rejects.toThrow(
      /weight has 3 elements, expected cols = 4/,
    );
  });

  it('rejects arrays of the wrong type', async () => {
    const asF32 = new Float32Array(8) as unknown as Uint16Array;
    await expect(rmsNorm(asF32, weight, { rows: 2, cols: 4, eps: 0 })).rejects.toThrow(/must be Uint16Array/);
    const asU16 = new Uint16Array(8) as unknown as Float32Array;
    await expect(rmsNormF32(asU16, new Float32Array(4), { rows: 2, cols: 4, eps: 0 })).rejects.toThrow(
      /must be Float32Array/,
    );
  });
});

describe.skipIf(nvidiaDevicePresent())('rmsNorm on a machine without an NVIDIA GPU', () => {
  it('rejects with a typed error naming the cause instead of crashing', async () => {
    const call = rmsNorm(new Uint16Array(8), new Uint16Array(4), { rows: 2, cols: 4, eps: 1e-6 });
    if (loadBinding().available) {
      await expect(call).rejects.toBeInstanceOf(CudaRuntimeError);
      await expect(
        rmsNormF32(new Float32Array(8), new Float32Array(4), { rows: 2, cols: 4, eps: 1e-6 }),
      ).rejects.toMatchObject({ code: 'E_CUDA_RUNTIME', cudaError: expect.stringMatching(/^cudaError/) });
    } else {
      await expect(call).rejects.toBeInstanceOf(CudaUnavailableError);
    }
  });
});
