// The `reference` backend: validates the model and policy, reorders weights so retrieval heads
// come first, and hands them to the float32 reference executor. Always available; never chosen
// unless asked for by name (it registers with a negative priority).
import type { Backend, BackendCapabilities, Executor, LoadOptions, ModelSource } from '../backend/backend.js';
import { validateGateTrainerRequest, validateLoadRequest } from '../backend/validate-model.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { reorderWeights } from '../policy/reorder-weights.js';
import type { GateTrainer, GateTrainerOptions } from '../training/gate-trainer.js';
import { ReferenceExecutor } from './reference-executor.js';
import { ReferenceGateTrainer } from './reference-gate-trainer.js';

/** Name the reference backend registers under. */
export const REFERENCE_BACKEND_NAME = 'reference';

const capabilities: BackendCapabilities = {
  computeDtypes: ['fp32'],
  kvCacheDtypes: ['fp32'],
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
  return new ReferenceExecutor({
    config,
    policy,
    weights: reorderWeights(model.weights, config, policy),
    maxTokens,
    maxSequences,
  });
}
