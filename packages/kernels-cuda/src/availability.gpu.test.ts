// GPU only (vitest.gpu.config.ts): on the device machine the addon must see a Hopper GPU.
import { describe, expect, it } from 'vitest';
import { cudaAvailability } from './availability.js';

describe('cudaAvailability on the GPU machine', () => {
  it('reports an available H100 or H200', async () => {
    const result = await cudaAvailability();
    if (!result.available) throw new Error(`CUDA unavailable: ${result.reason}`);
    const device = result.devices[0]!;
    expect(device.name).toMatch(/H100|H200/);
    expect(device.computeCapability).toBe('9.0');
    expect(device.supported).toBe(true);
    expect(device.totalMemoryBytes).toBeGreaterThan(70 * 2 ** 30);
    expect(device.multiprocessors).toBeGreaterThanOrEqual(114);
  });
});
