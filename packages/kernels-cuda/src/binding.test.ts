import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXPECTED_ABI_VERSION, loadBinding, loadBindingFrom } from './binding.js';
import { addonBuildStatus } from './test-support/addon-build-status.js';

describe('loadBinding', () => {
  it('loads the addon wherever build:native built it, else names why not', () => {
    const status = addonBuildStatus();
    const load = loadBinding();
    if (status?.built === true) {
      if (!load.available)
        throw new Error(`build:native succeeded but the addon did not load: ${load.reason}`);
      expect(load.binding.abiVersion).toBe(EXPECTED_ABI_VERSION);
      expect(load.binding.cudaRuntimeVersion).toBeGreaterThanOrEqual(12000);
      expect(typeof load.binding.deviceInfo).toBe('function');
      expect(typeof load.binding.rmsNorm).toBe('function');
      expect(typeof load.binding.rmsNormF32).toBe('function');
    } else {
      expect(load.available).toBe(false);
      if (load.available) return;
      expect(load.reason).toMatch(/^native addon not built: /);
      if (status?.reason !== undefined) expect(load.reason).toContain(status.reason);
    }
  });

  it('is cached: a second call returns the same outcome', () => {
    expect(loadBinding()).toBe(loadBinding());
  });

  it('names a missing build', () => {
    const load = loadBindingFrom('/nonexistent/build/Release/duo_kernels.node');
    expect(load).toMatchObject({ available: false });
    if (!load.available) expect(load.reason).toMatch(/not built: .*does not exist.*build:native/);
  });

  it('names a dlopen failure without throwing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'duo-kernels-'));
    const bogus = join(dir, 'duo_kernels.node');
    writeFileSync(bogus, 'not a shared object');
    const load = loadBindingFrom(bogus);
    expect(load).toMatchObject({ available: false });
    if (!load.available)
      expect(load.reason).toMatch(/failed to load from .*duo_kernels\.node: .*(ELF|invalid|short)/i);
  });
});
