// The planned side of `duo bench capacity`: how many tokens one sequence may hold in a memory budget
// under a policy, from core's memory planner (weights, KV bytes per token, streaming caches) after a
// stated headroom for what an executor allocates beyond weights and KV caches.
import {
  type BackendCapabilities,
  type KvCachePolicy,
  type ModelConfig,
  planMemory,
  type WeightDtype,
  type WeightFormat,
} from '@duo-attn/core';
import { EvalOptionError } from '../errors.js';

/**
 * Default headroom, as a fraction of the budget: 1.5%. On the cuda backend it covers what is not
 * weights or KV: the CUDA context and loaded kernels (several hundred MB), the cuBLASLt workspace
 * (32 MiB), the decode-attention split-K workspace, one token's activations, the logits row and the
 * sampling workspace (tens of MB on the Llama-3-8B shape; the executor reports them as
 * `scratchBytes`, and the capacity benchmark checks they stay within the headroom). The cuda benchmark
 * that found the largest contexts on an H100 and an H200 (docs/benchmarks.md) kept 1.5% free besides
 * that scratch; 1.5% of an H200's 150 GB is 2.25 GB. On cpu/reference the budget is a number the user
 * gives, and the headroom stands for onnxruntime's arena and the decode activations.
 */
export const DEFAULT_HEADROOM_FRACTION = 0.015;

/**
 * The weight dtype the planner assumes for a weight format on a backend: `int8` (W8A8 layout) for
 * w8a8, else the backend's compute dtype (fp32 on cpu/reference, bf16 on cuda).
 */
export function plannedWeightDtype(
  format: WeightFormat,
  capabilities: Pick<BackendCapabilities, 'computeDtypes'>,
): WeightDtype {
  if (format === 'w8a8') return 'int8';
  return capabilities.computeDtypes.includes('fp32') ? 'fp32' : 'bf16';
}

/** Inputs of {@link planCapacity}. */
export interface CapacityPlanOptions {
  readonly weightDtype: WeightDtype;
  /** The whole budget, bytes. */
  readonly memoryBytes: number;
  /** Bytes kept out of the budget for what is neither weights nor KV caches. */
  readonly headroomBytes: number;
}

/** What the planner says fits. Plain data for JSON. */
export interface CapacityPlan {
  readonly memoryBytes: number;
  readonly headroomBytes: number;
  /** `memoryBytes - headroomBytes`: what weights and KV caches may take. */
  readonly usableBytes: number;
  readonly weightDtype: WeightDtype;
  readonly weightBytes: number;
  readonly retrievalKvHeads: number;
  readonly streamingKvHeads: number;
  /** KV bytes each token of context adds (retrieval heads only). */
  readonly kvBytesPerToken: number;
  /** Streaming caches (sink + recent per streaming head), a constant. */
  readonly streamingKvBytes: number;
  /** Tokens one sequence may hold; null when unbounded (no retrieval heads), 0 when the weights alone do not fit. */
  readonly tokens: number | null;
}

/** The planner's capacity of `policy` in `memoryBytes - headroomBytes`. */
export function planCapacity(
  config: ModelConfig,
  policy: KvCachePolicy,
  options: CapacityPlanOptions,
): CapacityPlan {
  const { memoryBytes, headroomBytes } = options;
  if (!Number.isFinite(memoryBytes) || memoryBytes <= 0) {
    throw new EvalOptionError(`the memory budget must be a positive number of bytes (got ${memoryBytes})`);
  }
  if (!Number.isFinite(headroomBytes) || headroomBytes < 0 || headroomBytes >= memoryBytes) {
    throw new EvalOptionError(
      `the headroom must be at least 0 and below the ${memoryBytes}-byte budget (got ${headroomBytes})`,
    );
  }
  const usableBytes = memoryBytes - headroomBytes;
  const plan = planMemory(config, policy, { weightDtype: options.weightDtype, memoryBytes: usableBytes });
  return {
    memoryBytes,
    headroomBytes,
    usableBytes,
    weightDtype: plan.weightDtype,
    weightBytes: plan.weightBytes,
    retrievalKvHeads: plan.policy.retrievalKvHeads,
    streamingKvHeads: plan.policy.streamingKvHeads,
    kvBytesPerToken: plan.policy.kvBytesPerToken,
    streamingKvBytes: plan.policy.streamingKvBytes,
    tokens: plan.policy.capacityTokens ?? null,
  };
}
