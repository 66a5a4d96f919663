// The `reference` backend: validates the model and policy, reorders weights so retrieval heads
// come first, and hands them to the float32 reference executor. Always available; never chosen
// unless asked for by name (it registers with a negative priority).
import type { Backend, BackendCapabilities, Executor, LoadOptions, ModelSource } from '../backend/backend.js';
import { validateGateTrainerRequest, validateLoadRequest } from '../backend/validate-model.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { reorderW8A8Weights, reorderWeights } from '../policy/reorder-weights.js';
import type { GateTrainer, GateTrainerOptions } from '../training/gate-trainer.js';
import { ReferenceExecutor } from './reference-executor.js';
import { ReferenceGateTrainer } from './reference-gate-trainer.js';

/** Name the reference backend registers under. */
export const REFERENCE_BACKEND_NAME = 'reference';

const capabilities: BackendCapabilities = {
  computeDtypes: ['fp32'],
  kvCacheDtypes: ['fp32', 'int4'],
  weightFormats: ['float', 'w8a8'],
  // Gate training in float64 (the oracle of the other backends' gradients; tiny models).
  training: true,
};

/** Creates the reference backend (stateless; every `load` returns an independent executor). */
export function createReferenceBackend(): Backend {
  return {
    specificationVersion: 'v1',
    name: REFERENCE_BACKEND_NAME,
    capabilities,
    isAvailable: async () => ({ available: true }),
    load: async (model: ModelSource, policy: KvCachePolicy, options: LoadOptions): Promise<Executor> =>
      loadReference(model, policy, options),
    loadGateTrainer: async (model: ModelSource, options: GateTrainerOptions): Promise<GateTrainer> => {
      validateGateTrainerRequest('reference', model, options);
      return new ReferenceGateTrainer(model.config, model.weights, options);
    },
  };
}

function loadReference(model: ModelSource, policy: KvCachePolicy, options: LoadOptions): ReferenceExecutor {
  const { maxTokens, maxSequences } = validateLoadRequest('reference', capabilities, model, policy, options);
  const { config } = model;
  const weights = reorderWeights(model.weights, config, policy);
  if (model.w8a8 === undefined)
    return new ReferenceExecutor({ config, policy, weights, maxTokens, maxSequences });
  // W8A8: the layers run the int8 linears; the float view of them is not kept.
  const empty = new Float32Array(0);
  const withoutFloatLinears = {
    ...weights,
    layers: weights.layers.map((layer) => ({
      ...layer,
      qProj: empty,
      kProj: empty,
      vProj: empty,
      oProj: empty,
      gateProj: empty,
      upProj: empty,
      downProj: empty,
    })),
  };
  return new ReferenceExecutor({
    config,
    policy,
    weights: withoutFloatLinears,
    w8a8: reorderW8A8Weights(model.w8a8, config, policy),
    maxTokens,
    maxSequences,
  });
}
