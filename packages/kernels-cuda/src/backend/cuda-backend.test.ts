// The cuda backend's load-time checks, and its behaviour where no GPU is usable (every CI machine):
// unavailable with a reason, and load rejecting with BackendUnavailableError instead of crashing.
import { BackendUnavailableError, createRandomModel, fullPolicy, ModelLoadError } from '@duo-attn/core';
import { describe, expect, it } from 'vitest';
import { nvidiaDevicePresent } from '../test-support/nvidia-device-present.js';
import { CUDA_BACKEND_NAME, checkCudaSupport, createCudaBackend } from './cuda-backend.js';

describe('checkCudaSupport', () => {
  const base = createRandomModel({
    numLayers: 1,
    hiddenSize: 64,
    numHeads: 2,
    numKvHeads: 1,
    intermediateSize: 64,
  }).config;

  it('accepts a bias-free Llama with head_dim 32', () => {
    expect(() => checkCudaSupport(base)).not.toThrow();
  });

  it('names what the kernels do not implement', () => {
    expect(() => checkCudaSupport({ ...base, attentionBias: true })).toThrow(/attention biases/);
    expect(() => checkCudaSupport({ ...base, mlpBias: true })).toThrow(/MLP biases/);
    expect(() => checkCudaSupport({ ...base, headDim: 48 })).toThrow(
      /head_dim 48 \(supported: 16, 32, 64, 128\)/,
    );
    expect(() => checkCudaSupport({ ...base, intermediateSize: 60 })).toThrow(/multiples of 8/);
    expect(() => checkCudaSupport({ ...base, attentionBias: true })).toThrow(ModelLoadError);
  });
});

describe('createCudaBackend', () => {
  it('rejects a negative device index at once', () => {
    expect(() => createCudaBackend({ device: -1 })).toThrow(/device must be an integer >= 0/);
  });

  it('declares bf16 compute and bf16 KV caches', () => {
    const backend = createCudaBackend();
    expect(backend.name).toBe(CUDA_BACKEND_NAME);
    expect(backend.capabilities.kvCacheDtypes).toEqual(['bf16']);
  });

  it('refuses an fp32-cache policy before touching the GPU', async () => {
    const model = createRandomModel({
      numLayers: 1,
      hiddenSize: 64,
      numHeads: 2,
      numKvHeads: 1,
      intermediateSize: 64,
    });
    await expect(createCudaBackend().load(model, fullPolicy(model.config), { maxTokens: 8 })).rejects.toThrow(
      /bf16 KV caches; policy cacheDtype fp32/,
    );
  });

  it.skipIf(nvidiaDevicePresent())(
    'without a GPU: unavailable with a reason, and load rejects naming it',
    async () => {
      const backend = createCudaBackend();
      const availability = await backend.isAvailable();
      expect(availability.available).toBe(false);
      const reason = availability.available ? '' : availability.reason;
      expect(reason).toMatch(/addon|driver|GPU|CUDA/);
      const model = createRandomModel({
        numLayers: 1,
        hiddenSize: 64,
        numHeads: 2,
        numKvHeads: 1,
        intermediateSize: 64,
      });
      const error = await backend
        .load(model, fullPolicy(model.config, { cacheDtype: 'bf16' }), { maxTokens: 8 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toContain(reason);
    },
  );

  it('declares gate training and refuses a bad mask or an unsupported model before touching the GPU', async () => {
    const backend = createCudaBackend();
    expect(backend.capabilities.training).toBe(true);
    const model = createRandomModel({
      numLayers: 1,
      hiddenSize: 64,
      numHeads: 2,
      numKvHeads: 1,
      intermediateSize: 64,
    });
    await expect(
      backend.loadGateTrainer(model, { maxTokens: 16, mask: { kind: 'token', sinkSize: 1, recentSize: 0 } }),
    ).rejects.toMatchObject({ code: 'E_TRAINING_MASK' });
    const biased = { ...model, config: { ...model.config, headDim: 48 } };
    await expect(
      backend.loadGateTrainer(biased, { maxTokens: 16, mask: { kind: 'token', sinkSize: 1, recentSize: 4 } }),
    ).rejects.toThrow(/does not support head_dim 48/);
  });

  it.skipIf(nvidiaDevicePresent())('without a GPU: loadGateTrainer rejects with the reason', async () => {
    const model = createRandomModel({
      numLayers: 1,
      hiddenSize: 64,
      numHeads: 2,
      numKvHeads: 1,
      intermediateSize: 64,
    });
    const error = await createCudaBackend()
      .loadGateTrainer(model, { maxTokens: 16, mask: { kind: 'token', sinkSize: 1, recentSize: 4 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
  });
});
