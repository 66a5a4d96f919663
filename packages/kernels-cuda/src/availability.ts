// Answers "can the cuda backend run here?" without throwing: the addon must load, the driver must
// answer and at least one GPU our fat binary runs on must be visible. Otherwise it names the cause.
import { type BindingLoad, loadBinding, type NativeDeviceInfo } from './binding.js';
import { cudaErrorName } from './errors.js';

/** Lowest compute capability the fat binary has code for (sm_80; newer GPUs JIT its PTX). */
export const MIN_COMPUTE_CAPABILITY_MAJOR = 8;

/** One visible CUDA device. `supported` is false where the addon has no code for its architecture. */
export interface CudaDevice {
  readonly index: number;
  readonly name: string;
  readonly totalMemoryBytes: number;
  /** `major.minor`, e.g. `9.0` for H100/H200. */
  readonly computeCapability: string;
  readonly multiprocessors: number;
  readonly supported: boolean;
}

/** Whether the CUDA kernels can run here, with the devices, or the reason they cannot. */
export type CudaAvailability =
  | {
      readonly available: true;
      readonly devices: readonly CudaDevice[];
      /** CUDA version integers, e.g. 13000 = 13.0. */
      readonly driverVersion: number;
      readonly runtimeVersion: number;
    }
  | { readonly available: false; readonly reason: string };

/** Formats a CUDA version integer (13000) as `13.0`. */
export function formatCudaVersion(version: number): string {
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}

/**
 * Names the cause of a failed device query (a rejection of the addon's deviceInfo()). Pure, so the
 * mapping is tested without a GPU. `runtimeVersion` is the CUDA runtime the addon was built with.
 */
export function describeDeviceQueryFailure(error: unknown, runtimeVersion: number): string {
  const name = cudaErrorName(error);
  const message = error instanceof Error ? error.message : String(error);
  const driverVersion =
    typeof error === 'object' && error !== null && 'driverVersion' in error
      ? Number((error as { driverVersion: unknown }).driverVersion)
      : 0;
  switch (name) {
    case 'cudaErrorInsufficientDriver':
      return driverVersion === 0
        ? `no NVIDIA driver: libcuda.so.1 could not be loaded, so no GPU can be used (${message})`
        : `the NVIDIA driver supports CUDA ${formatCudaVersion(driverVersion)}, older than the CUDA ${formatCudaVersion(runtimeVersion)} runtime the addon was built with (${message})`;
    case 'cudaErrorNoDevice':
      return `no CUDA-capable GPU is visible (check CUDA_VISIBLE_DEVICES) (${message})`;
    default:
      return `CUDA initialisation failed (${message})`;
  }
}

/** Turns the addon's device records into CudaDevice values, flagging architectures we have no code for. */
export function toCudaDevices(info: NativeDeviceInfo): CudaDevice[] {
  return info.devices.map((device) => ({
    ...device,
    supported: Number.parseInt(device.computeCapability, 10) >= MIN_COMPUTE_CAPABILITY_MAJOR,
  }));
}

/** Decides availability from a binding load and the device query's outcome. Pure; see cudaAvailability. */
export async function availabilityFrom(load: BindingLoad): Promise<CudaAvailability> {
  if (!load.available) return { available: false, reason: load.reason };
  let info: NativeDeviceInfo;
  try {
    info = await load.binding.deviceInfo();
  } catch (error) {
    return { available: false, reason: describeDeviceQueryFailure(error, load.binding.cudaRuntimeVersion) };
  }
  const devices = toCudaDevices(info);
  if (devices.length === 0) return { available: false, reason: 'no CUDA-capable GPU is visible' };
  if (!devices.some((device) => device.supported)) {
    const seen = devices.map((device) => `${device.name} (compute capability ${device.computeCapability})`);
    return {
      available: false,
      reason: `no supported GPU: ${seen.join(', ')}; the addon needs compute capability ${MIN_COMPUTE_CAPABILITY_MAJOR}.0 or newer`,
    };
  }
  return { available: true, devices, driverVersion: info.driverVersion, runtimeVersion: info.runtimeVersion };
}

/**
 * Whether the CUDA kernels can run in this process. Never rejects: a missing build, a missing
 * driver, no GPU or only unsupported GPUs give `{ available: false, reason }` naming the cause.
 */
export function cudaAvailability(): Promise<CudaAvailability> {
  return availabilityFrom(loadBinding());
}
