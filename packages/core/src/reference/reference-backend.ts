// The `reference` backend: validates the model and policy, reorders weights so retrieval heads
// come first, and hands them to the float32 reference executor. Always available; never chosen
// unless asked for by name (it registers with a negative priority).
import type { Backend, BackendCapabilities, Executor, LoadOptions, ModelSource } from '../backend/backend.js';
import { validateLoadRequest } from '../backend/validate-model.js';
import type { KvCachePolicy } from '../policy/kv-cache-policy.js';
import { reorderWeights } from '../policy/reorder-weights.js';
import { ReferenceExecutor } from './reference-executor.js';

/** Name the reference backend registers under. */
export const REFERENCE_BACKEND_NAME = 'reference';

const capabilities: BackendCapabilities = {
  computeDtypes: ['fp32'],
  kvCacheDtypes: ['fp32'],
  training: false,
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
