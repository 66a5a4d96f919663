// Public surface of the policy module: the KvCachePolicy type, its constructors and validators,
// load-time head reordering and the memory planner.

export type { FullPolicyOptions, PolicyShape, StreamingOptions } from './create-policy.js';
export {
  fullPolicy,
  KV_CACHE_DTYPES,
  numRetrievalKvHeads,
  numStreamingKvHeads,
  policyFromMask,
  policyToMask,
  streamingPolicy,
  validatePolicy,
  validatePolicyForModel,
} from './create-policy.js';
export type { KvCacheDtype, KvCachePolicy, LayerHeadSplit } from './kv-cache-policy.js';
export type {
  CapacityInputs,
  MemoryPlan,
  ParameterCounts,
  PlanMemoryOptions,
  PolicyMemory,
  WeightDtype,
} from './memory-planner.js';
export {
  capacityTokens,
  countParameters,
  kvBytesPerToken,
  kvBytesPerTokenHead,
  planMemory,
  streamingKvBytes,
  weightBytes,
  weightDtypeFromConfig,
} from './memory-planner.js';
export { PolicyError } from './policy-error.js';
export { reorderedKvHeads, reorderW8A8Weights, reorderWeights } from './reorder-weights.js';
export type {
  TensorParallelOptions,
  TensorParallelPlan,
  TensorParallelRank,
} from './tensor-parallel-plan.js';
export { planTensorParallel } from './tensor-parallel-plan.js';
export type { TensorParallelShard } from './tensor-parallel-shard.js';
export { shardForTensorParallel } from './tensor-parallel-shard.js';
