// The `cuda` backend (DESIGN §4): bf16 weights and KV caches resident on one GPU, every layer run by
// the native model without returning to JS. `load` uploads a model's weights (reordered, fused,
// rounded to bf16); `loadSynthetic` makes seeded-random weights on the device for benchmark shapes
// too large to build on the host.
import {
  type Backend,
  type BackendCapabilities,
  BackendUnavailableError,
  checkStreamingMask,
  fullPolicy,
  type GateTrainerOptions,
  type KvCachePolicy,
  type LoadOptions,
  type ModelConfig,
  ModelLoadError,
  type ModelSource,
  resolveLoadOptions,
  validateGateTrainerRequest,
  validateLoadRequest,
  validateModelConfig,
  validatePolicyForModel,
} from '@duo-attn/core';
import { cudaAvailability } from '../availability.js';
import { loadBinding, type NativeGateTrainer, type NativeModel, WeightKind } from '../binding.js';
import { CudaRuntimeError } from '../errors.js';
import { CudaExecutor } from './cuda-executor.js';
import { CudaGateTrainer } from './cuda-gate-trainer.js';
import { packWeights } from './pack-weights.js';

/** Name the cuda backend registers under. */
export const CUDA_BACKEND_NAME = 'cuda';

/** Head sizes the attention kernels are compiled for. */
export const CUDA_HEAD_DIMS: readonly number[] = [16, 32, 64, 128];

/** Options of {@link createCudaBackend}. */
export interface CudaBackendOptions {
  /** CUDA device index (default 0). */
  readonly device?: number;
}

/** The cuda backend: the contract's Backend plus device-side random weights for benchmarks. */
export interface CudaBackend extends Backend {
  readonly device: number;
  /**
   * Loads a model of `config`'s shape whose weights are seeded uniform random numbers generated on
   * the GPU (matrices in ±0.02, norm weights 1 ± 0.02): for speed and memory benchmarks only.
   */
  loadSynthetic(
    config: ModelConfig,
    policy: KvCachePolicy,
    options: LoadOptions,
    seed?: number,
  ): Promise<CudaExecutor>;
  /** Loads `model` for gate training: frozen bf16 weights and a step's buffers for `options.maxTokens`. */
  loadGateTrainer(model: ModelSource, options: GateTrainerOptions): Promise<CudaGateTrainer>;
  /** A gate trainer of `config`'s shape with seeded-random weights made on the GPU: benchmarks only. */
  loadSyntheticGateTrainer(
    config: ModelConfig,
    options: GateTrainerOptions,
    seed?: number,
  ): Promise<CudaGateTrainer>;
}

const capabilities: BackendCapabilities = {
  computeDtypes: ['bf16'],
  kvCacheDtypes: ['bf16'],
  // Gate training: the two-way forward and the student's backward pass in bf16 (fp32 accumulation).
  training: true,
};

/** Throws ModelLoadError naming the first feature of `config` the cuda kernels do not implement. */
export function checkCudaSupport(config: ModelConfig): void {
  const unsupported = (what: string) =>
    new ModelLoadError('E_MODEL_UNSUPPORTED', `the cuda backend does not support ${what}`);
  if (config.attentionBias) throw unsupported('attention biases (attention_bias / Qwen2 q|k|v biases)');
  if (config.mlpBias) throw unsupported('MLP biases (mlp_bias)');
  if (!CUDA_HEAD_DIMS.includes(config.headDim)) {
    throw unsupported(`head_dim ${config.headDim} (supported: ${CUDA_HEAD_DIMS.join(', ')})`);
  }
  if (config.hiddenSize % 8 !== 0 || config.intermediateSize % 8 !== 0) {
    throw unsupported(
      `hidden_size ${config.hiddenSize} / intermediate_size ${config.intermediateSize} that are not multiples of 8`,
    );
  }
}

/** Creates the cuda backend for one device. Nothing touches the GPU until `isAvailable` or `load`. */
export function createCudaBackend(options: CudaBackendOptions = {}): CudaBackend {
  const device = options.device ?? 0;
  if (!Number.isInteger(device) || device < 0) {
    throw new RangeError(`cuda backend device must be an integer >= 0, got ${String(options.device)}`);
  }
  const isAvailable = async (): Promise<{ available: true } | { available: false; reason: string }> => {
    const availability = await cudaAvailability();
    if (!availability.available) return availability;
    const found = availability.devices.find((candidate) => candidate.index === device);
    if (found === undefined) {
      return {
        available: false,
        reason: `device index ${device} is out of range: ${availability.devices.length} CUDA device(s) visible`,
      };
    }
    if (!found.supported) {
      return {
        available: false,
        reason: `device ${device} (${found.name}, compute capability ${found.computeCapability}) is older than sm_80`,
      };
    }
    return { available: true };
  };

  const createNative = async (
    config: ModelConfig,
    policy: KvCachePolicy,
    maxTokens: number,
    maxSequences: number,
  ): Promise<NativeModel> => {
    checkCudaSupport(config);
    const available = await isAvailable();
    if (!available.available) {
      throw new BackendUnavailableError(`the cuda backend cannot run here: ${available.reason}`, [
        { name: CUDA_BACKEND_NAME, reason: available.reason },
      ]);
    }
    const load = loadBinding();
    if (!load.available) throw new Error(`unreachable: the addon loaded for isAvailable (${load.reason})`);
    try {
      return await load.binding.createModel(
        {
          numLayers: config.numLayers,
          hiddenSize: config.hiddenSize,
          numHeads: config.numHeads,
          numKvHeads: config.numKvHeads,
          headDim: config.headDim,
          intermediateSize: config.intermediateSize,
          vocabSize: config.vocabSize,
          rmsNormEps: config.rmsNormEps,
          tieWordEmbeddings: config.tieWordEmbeddings,
        },
        {
          retrievalKvHeads: policy.layers.map((split) => split.retrievalKvHeads.length),
          sinkSize: policy.sinkSize,
          recentSize: policy.recentSize,
        },
        { device, maxTokens, maxSequences },
      );
    } catch (error) {
      throw new CudaRuntimeError(`loading a ${config.numLayers}-layer model on cuda device ${device}`, error);
    }
  };

  const load = async (
    model: ModelSource,
    policy: KvCachePolicy,
    options: LoadOptions,
  ): Promise<CudaExecutor> => {
    const { maxTokens, maxSequences } = validateLoadRequest(
      CUDA_BACKEND_NAME,
      capabilities,
      model,
      policy,
      options,
    );
    const { config } = model;
    const native = await createNative(config, policy, maxTokens, maxSequences);
    try {
      for (const weight of packWeights(model.weights, config, policy)) {
        await native.uploadWeight(weight.kind, weight.layer, weight.data);
      }
    } catch (error) {
      await native.dispose();
      throw new CudaRuntimeError('uploading weights to the GPU', error);
    }
    return new CudaExecutor({ native, config, policy, maxTokens, maxSequences });
  };

  const loadSynthetic = async (
    config: ModelConfig,
    policy: KvCachePolicy,
    options: LoadOptions,
    seed = 0,
  ): Promise<CudaExecutor> => {
    validateModelConfig(config);
    validatePolicyForModel(policy, config);
    if (policy.cacheDtype !== 'bf16') {
      throw new ModelLoadError(
        'E_MODEL_UNSUPPORTED',
        `the cuda backend keeps bf16 KV caches; policy cacheDtype ${policy.cacheDtype} is not supported`,
      );
    }
    const { maxTokens, maxSequences } = resolveLoadOptions(options);
    const native = await createNative(config, policy, maxTokens, maxSequences);
    try {
      await native.fillRandomWeights(seed);
    } catch (error) {
      await native.dispose();
      throw new CudaRuntimeError('generating random weights on the GPU', error);
    }
    return new CudaExecutor({ native, config, policy, maxTokens, maxSequences });
  };

  const createNativeTrainer = async (
    config: ModelConfig,
    options: GateTrainerOptions,
  ): Promise<NativeGateTrainer> => {
    checkCudaSupport(config);
    checkStreamingMask(options.mask);
    const { maxTokens } = resolveLoadOptions({ maxTokens: options.maxTokens });
    const available = await isAvailable();
    if (!available.available) {
      throw new BackendUnavailableError(`the cuda backend cannot run here: ${available.reason}`, [
        { name: CUDA_BACKEND_NAME, reason: available.reason },
      ]);
    }
    const binding = loadBinding();
    if (!binding.available)
      throw new Error(`unreachable: the addon loaded for isAvailable (${binding.reason})`);
    try {
      return await binding.binding.createGateTrainer(
        {
          numLayers: config.numLayers,
          hiddenSize: config.hiddenSize,
          numHeads: config.numHeads,
          numKvHeads: config.numKvHeads,
          headDim: config.headDim,
          intermediateSize: config.intermediateSize,
          vocabSize: config.vocabSize,
          rmsNormEps: config.rmsNormEps,
          tieWordEmbeddings: config.tieWordEmbeddings,
        },
        {
          device,
          maxTokens,
          maskKind: options.mask.kind === 'block' ? 1 : 0,
          sinkSize: options.mask.sinkSize,
          recentSize: options.mask.recentSize,
          blockSize: options.mask.blockSize ?? 128,
          activations: 0,
        },
      );
    } catch (error) {
      throw new CudaRuntimeError(
        `allocating a gate trainer for ${maxTokens} tokens of a ${config.numLayers}-layer model on cuda device ${device}`,
        error,
      );
    }
  };

  const loadGateTrainer = async (
    model: ModelSource,
    options: GateTrainerOptions,
  ): Promise<CudaGateTrainer> => {
    checkCudaSupport(model.config);
    validateGateTrainerRequest(CUDA_BACKEND_NAME, model, options);
    const { config } = model;
    const native = await createNativeTrainer(config, options);
    try {
      // Original head order (no policy: the gates are per head), lm_head left out (never read).
      for (const weight of packWeights(model.weights, config, fullPolicy(config))) {
        if (weight.kind === WeightKind.lmHead) continue;
        await native.uploadWeight(weight.kind, weight.layer, weight.data);
      }
    } catch (error) {
      await native.dispose();
      throw new CudaRuntimeError('uploading weights to the GPU', error);
    }
    return new CudaGateTrainer(native, config, options.maxTokens);
  };

  const loadSyntheticGateTrainer = async (
    config: ModelConfig,
    options: GateTrainerOptions,
    seed = 0,
  ): Promise<CudaGateTrainer> => {
    validateModelConfig(config);
    const native = await createNativeTrainer(config, options);
    try {
      await native.fillRandomWeights(seed);
    } catch (error) {
      await native.dispose();
      throw new CudaRuntimeError('generating random weights on the GPU', error);
    }
    return new CudaGateTrainer(native, config, options.maxTokens);
  };

  return {
    specificationVersion: 'v1',
    name: CUDA_BACKEND_NAME,
    capabilities,
    device,
    isAvailable,
    load,
    loadSynthetic,
    loadGateTrainer,
    loadSyntheticGateTrainer,
  };
}
