// The bandwidth floor of memory-bound GPU work (decode): device-to-device copy bandwidth measured on
// the device itself, so benchmark figures can be set against (bytes moved) / (bytes per second).
import { loadBinding } from './binding.js';
import { CudaInputError, CudaRuntimeError, CudaUnavailableError } from './errors.js';

/** A copy-bandwidth measurement: bytes read plus bytes written per second. */
export interface CopyBandwidth {
  readonly bytesPerSecond: number;
  /** Median time of one copy of `bytes`. */
  readonly medianMs: number;
  readonly bytes: number;
  readonly device: number;
}

/**
 * Times `cudaMemcpy` device-to-device of `bytes` (default 1 GiB) on `device` (default 0): two warm-up
 * copies, then the median of ten. Rejects with CudaUnavailableError (no addon or GPU) or
 * CudaRuntimeError (e.g. not enough free memory for the two buffers).
 */
export async function measureCopyBandwidth(
  options: { device?: number; bytes?: number } = {},
): Promise<CopyBandwidth> {
  const device = options.device ?? 0;
  const bytes = options.bytes ?? 2 ** 30;
  if (!Number.isInteger(device) || device < 0)
    throw new CudaInputError(`device must be an integer >= 0, got ${device}`);
  if (!Number.isInteger(bytes) || bytes < 1)
    throw new CudaInputError(`bytes must be a positive integer, got ${bytes}`);
  const load = loadBinding();
  if (!load.available) throw new CudaUnavailableError(load.reason);
  try {
    const result = await load.binding.measureCopyBandwidth(device, bytes);
    return { ...result, device };
  } catch (error) {
    throw new CudaRuntimeError(
      `measuring copy bandwidth on device ${device} with ${bytes}-byte buffers`,
      error,
    );
  }
}
