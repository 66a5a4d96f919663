import { describe, expect, it } from 'vitest';
import {
  availabilityFrom,
  cudaAvailability,
  describeDeviceQueryFailure,
  formatCudaVersion,
} from './availability.js';
import type { NativeBinding, NativeDeviceInfo } from './binding.js';
import { nvidiaDevicePresent } from './test-support/nvidia-device-present.js';

function cudaError(name: string, message: string, driverVersion = 0): Error {
  return Object.assign(new Error(message), { cudaError: name, driverVersion });
}

function fakeBinding(deviceInfo: () => Promise<NativeDeviceInfo>): NativeBinding {
  const unused = () => Promise.reject(new Error('not used'));
  return {
    abiVersion: 2,
    cudaRuntimeVersion: 13000,
    deviceInfo,
    rmsNorm: unused,
    rmsNormF32: unused,
    createModel: unused,
    createGateTrainer: unused,
    measureCopyBandwidth: unused,
  };
}

const h100 = {
  index: 0,
  name: 'NVIDIA H100 80GB HBM3',
  totalMemoryBytes: 85e9,
  computeCapability: '9.0',
  multiprocessors: 132,
};

describe('describeDeviceQueryFailure', () => {
  it('names a missing driver', () => {
    const reason = describeDeviceQueryFailure(cudaError('cudaErrorInsufficientDriver', 'x'), 13000);
    expect(reason).toMatch(/no NVIDIA driver: libcuda\.so\.1/);
  });

  it('names an old driver with both versions', () => {
    const reason = describeDeviceQueryFailure(cudaError('cudaErrorInsufficientDriver', 'x', 12040), 13000);
    expect(reason).toMatch(/driver supports CUDA 12\.4, older than the CUDA 13\.0 runtime/);
  });

  it('names a machine without GPUs', () => {
    expect(describeDeviceQueryFailure(cudaError('cudaErrorNoDevice', 'x'), 13000)).toMatch(
      /no CUDA-capable GPU is visible/,
    );
  });

  it('passes other failures through', () => {
    expect(describeDeviceQueryFailure(new Error('boom'), 13000)).toBe('CUDA initialisation failed (boom)');
  });
});

describe('availabilityFrom', () => {
  it('passes a load failure through', async () => {
    await expect(
      availabilityFrom({ available: false, reason: 'native addon not built: x', path: 'p' }),
    ).resolves.toEqual({ available: false, reason: 'native addon not built: x' });
  });

  it('reports devices when a supported GPU is visible', async () => {
    const binding = fakeBinding(async () => ({
      deviceCount: 1,
      driverVersion: 13000,
      runtimeVersion: 13000,
      devices: [h100],
    }));
    await expect(availabilityFrom({ available: true, binding, path: 'p' })).resolves.toEqual({
      available: true,
      devices: [{ ...h100, supported: true }],
      driverVersion: 13000,
      runtimeVersion: 13000,
    });
  });

  it('refuses when only GPUs older than sm_80 are visible', async () => {
    const binding = fakeBinding(async () => ({
      deviceCount: 1,
      driverVersion: 13000,
      runtimeVersion: 13000,
      devices: [{ ...h100, name: 'Tesla T4', computeCapability: '7.5' }],
    }));
    const result = await availabilityFrom({ available: true, binding, path: 'p' });
    expect(result).toMatchObject({ available: false });
    if (!result.available)
      expect(result.reason).toMatch(/no supported GPU: Tesla T4 \(compute capability 7\.5\)/);
  });

  it('refuses when the query resolves with no devices, or rejects', async () => {
    const none = fakeBinding(async () => ({
      deviceCount: 0,
      driverVersion: 13000,
      runtimeVersion: 13000,
      devices: [],
    }));
    await expect(availabilityFrom({ available: true, binding: none, path: 'p' })).resolves.toEqual({
      available: false,
      reason: 'no CUDA-capable GPU is visible',
    });
    const failing = fakeBinding(() =>
      Promise.reject(cudaError('cudaErrorNoDevice', 'no CUDA-capable device')),
    );
    const result = await availabilityFrom({ available: true, binding: failing, path: 'p' });
    expect(result).toMatchObject({ available: false });
  });
});

describe('formatCudaVersion', () => {
  it('formats CUDA version integers', () => {
    expect(formatCudaVersion(13000)).toBe('13.0');
    expect(formatCudaVersion(12040)).toBe('12.4');
  });
});

describe.skipIf(nvidiaDevicePresent())('cudaAvailability on a machine without an NVIDIA GPU', () => {
  it('resolves unavailable and names the missing driver, GPU or build', async () => {
    const result = await cudaAvailability();
    expect(result.available).toBe(false);
    if (!result.available) expect(result.reason).toMatch(/NVIDIA driver|GPU|not built/);
  });
});
