// `duo bench capacity`: per combination of weight format, KV cache dtype and policy, the largest
// context one sequence can hold and still decode in a memory budget. The planner's figure is the
// first candidate; each candidate is verified by loading an executor of that size, filling its cache
// synthetically and timing decode steps, and counts only if the load did not run out of memory and
// the executor's own report of weights + KV caches stays within the budget less the headroom.
// Failing candidates step the search down (searchLargestFitting), first to the count the overshoot
// suggests. Then decode is timed at the
// requested contexts too, each next to its bandwidth floor when the caller measured a bandwidth.
import {
  type Backend,
  DuoError,
  type Executor,
  type KvCachePolicy,
  type ModelConfig,
  type WeightFormat,
} from '@duo-attn/core';
import { EvalOptionError } from '../errors.js';
import { type CapacityCombination, unsupportedReason } from './capacity-combinations.js';
import { type CapacityPlan, planCapacity, plannedWeightDtype } from './capacity-plan.js';
import { benchmarkDecode, type DecodeMeasurement } from './decode-benchmark.js';
import { type ProbeOutcome, type ProbeRecord, searchLargestFitting } from './largest-fitting-search.js';
import { isOutOfMemoryError } from './out-of-memory.js';

/** Options of {@link benchmarkCapacity}. */
export interface CapacityBenchmarkOptions {
  /** The backend the executors come from (for its name and capabilities). */
  readonly backend: Pick<Backend, 'name' | 'capabilities'>;
  readonly config: ModelConfig;
  readonly combinations: readonly CapacityCombination[];
  /** The policy a combination names, with `kvDtype` as its cache dtype. */
  readonly policyFor: (name: string, kvDtype: CapacityCombination['kvDtype']) => KvCachePolicy;
  /** Loads an executor of the model with `weights` under `policy` holding `maxTokens` tokens. */
  readonly load: (weights: WeightFormat, policy: KvCachePolicy, maxTokens: number) => Promise<Executor>;
  /** The budget, bytes (device memory, or what the user gives for host backends). */
  readonly memoryBytes: number;
  /** Bytes of the budget reserved for what is neither weights nor KV caches. */
  readonly headroomBytes: number;
  /** Contexts to time decode at besides the largest (those above it are reported as not fitting). */
  readonly at?: readonly number[];
  /** Timed decode steps per context (default 4). */
  readonly steps?: number;
  /** Untimed decode steps first (default 1). */
  readonly warmup?: number;
  readonly seed?: number;
  /** The search's resolution in tokens (default 0.1% of the planned figure). */
  readonly resolution?: number;
  /**
   * Copy bandwidth (bytes read + written per second) measured in the same run: each decode figure
   * then gets its floor, (weight bytes + KV bytes read) / bandwidth.
   */
  readonly copyBandwidthBytesPerSecond?: number;
  readonly onProgress?: (message: string) => void;
}

/** A decode figure of a capacity row. */
export interface CapacityDecode {
  readonly context: number;
  /** False when `context` is above the largest that fits (nothing was measured). */
  readonly fits: boolean;
  /** True for the largest context that fits. */
  readonly largest?: boolean;
  readonly msPerToken?: number;
  readonly minMsPerToken?: number;
  readonly kvBytesUsed?: number;
  readonly floorMs?: number;
  readonly ratioToFloor?: number;
}

/** What a passing probe measured at the largest context. */
export interface CapacityMeasured {
  /** Weight bytes the executor reports. */
  readonly weightBytes: number;
  /** KV bytes the executor had allocated after the decode steps. */
  readonly kvBytesAllocated: number;
  /** Bytes of scratch buffers, from executors that report them (cuda). */
  readonly scratchBytes?: number;
  readonly decode: DecodeMeasurement;
}

/** One row of the report. */
export interface CapacityRow extends CapacityCombination {
  /**
   * `measured`: searched and timed; `none-fits`: not even the smallest context fits; `unbounded`:
   * no retrieval heads, so the KV cache does not grow (only the `at` contexts are timed);
   * `unsupported`: the backend cannot run it (`reason` says why); `failed`: an error other than
   * running out of memory stopped it (`reason` is the error), and the next combination ran.
   */
  readonly status: 'measured' | 'none-fits' | 'unbounded' | 'unsupported' | 'failed';
  readonly reason?: string;
  readonly plan?: CapacityPlan;
  /** The planner's token count (maxTokens of one sequence); null when unbounded. */
  readonly plannedTokens?: number | null;
  /** The largest token count verified (maxTokens: the cache held this many after the decode steps). */
  readonly verifiedTokens?: number;
  /** Tokens in the cache when the steps at the largest context were timed (verified − warm-up − steps). */
  readonly largestContext?: number;
  /** Measured at the verified size. */
  readonly measured?: Omit<CapacityMeasured, 'decode'>;
  readonly probes?: readonly ProbeRecord[];
  /** Decode at each `at` context and at the largest, ascending. */
  readonly decode?: readonly CapacityDecode[];
}

/**
 * Runs every combination in order; see the file comment. Rejects on bad options; a combination that
 * fails for another reason is reported as a `failed` row and the rest still run.
 */
export async function benchmarkCapacity(options: CapacityBenchmarkOptions): Promise<CapacityRow[]> {
  const steps = options.steps ?? 4;
  const warmup = options.warmup ?? 1;
  if (!Number.isSafeInteger(steps) || steps < 1)
    throw new EvalOptionError(`steps must be a positive integer (got ${steps})`);
  if (!Number.isSafeInteger(warmup) || warmup < 0) {
    throw new EvalOptionError(`warmup must be a non-negative integer (got ${warmup})`);
  }
  for (const context of options.at ?? []) {
    if (!Number.isSafeInteger(context) || context < 1) {
      throw new EvalOptionError(`every context to time at must be a positive integer (got ${context})`);
    }
  }
  const rows: CapacityRow[] = [];
  for (const combination of options.combinations) {
    const label = `${combination.weights} weights, ${combination.kvDtype} KV, ${combination.policy}`;
    const reason = unsupportedReason(options.backend, combination);
    if (reason !== undefined) {
      options.onProgress?.(`${label}: unsupported (${reason})`);
      rows.push({ ...combination, status: 'unsupported', reason });
      continue;
    }
    try {
      rows.push(await measureCombination(options, combination, label, steps, warmup));
    } catch (error) {
      // The backend's own refusal (a model feature, a format its capabilities did not rule out).
      if (DuoError.isInstance(error) && error.code === 'E_MODEL_UNSUPPORTED') {
        options.onProgress?.(`${label}: unsupported (${error.message})`);
        rows.push({ ...combination, status: 'unsupported', reason: error.message });
        continue;
      }
      // Bad options fail the whole run; anything else (a kernel error on one combination) is kept
      // in its row, so one long device run still reports the others.
      if (error instanceof EvalOptionError) throw error;
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      options.onProgress?.(`${label}: failed (${reason})`);
      rows.push({ ...combination, status: 'failed', reason });
    }
  }
  return rows;
}

async function measureCombination(
  options: CapacityBenchmarkOptions,
  combination: CapacityCombination,
  label: string,
  steps: number,
  warmup: number,
): Promise<CapacityRow> {
  const { config } = options;
  const progress = (message: string) => options.onProgress?.(`${label}: ${message}`);
  const policy = options.policyFor(combination.policy, combination.kvDtype);
  const plan = planCapacity(config, policy, {
    weightDtype: plannedWeightDtype(combination.weights, options.backend.capabilities),
    memoryBytes: options.memoryBytes,
    headroomBytes: options.headroomBytes,
  });
  const extra = warmup + steps;
  const at = [...new Set(options.at ?? [])].sort((a, b) => a - b);
  const floor = (weightBytes: number, kvBytesUsed: number) => {
    const bandwidth = options.copyBandwidthBytesPerSecond;
    return bandwidth === undefined ? undefined : ((weightBytes + kvBytesUsed) / bandwidth) * 1e3;
  };
  const decodeFigure = (m: DecodeMeasurement, weightBytes: number, largest: boolean): CapacityDecode => {
    const floorMs = floor(weightBytes, m.kvBytesUsed);
    return {
      context: m.context,
      fits: true,
      ...(largest ? { largest: true } : {}),
      msPerToken: m.msPerToken,
      minMsPerToken: m.minMsPerToken,
      kvBytesUsed: m.kvBytesUsed,
      ...(floorMs === undefined ? {} : { floorMs, ratioToFloor: m.msPerToken / floorMs }),
    };
  };
  const base = { ...combination, plan, plannedTokens: plan.tokens };

  if (plan.tokens === null) {
    progress('no retrieval heads: the KV cache does not grow with context');
    const decode = await timeAt(
      options,
      combination.weights,
      policy,
      at,
      { steps, warmup },
      progress,
      decodeFigure,
    );
    return { ...base, status: 'unbounded', decode };
  }
  progress(
    `planned ${plan.tokens} tokens (weights ${plan.weightBytes} B, ${plan.kvBytesPerToken} KV B/token, headroom ${plan.headroomBytes} B)`,
  );
  const search =
    plan.tokens > extra
      ? await searchLargestFitting<CapacityMeasured>({
          start: plan.tokens,
          min: extra + 1,
          ...(options.resolution !== undefined ? { resolution: options.resolution } : {}),
          probe: (tokens) => probe(options, combination.weights, policy, plan, tokens, extra, warmup, steps),
          onProbe: (record) =>
            progress(
              `${record.tokens} tokens ${record.fits ? 'fit and decode' : `do not fit: ${record.reason}`}`,
            ),
        })
      : { tokens: 0, probes: [] as ProbeRecord[] };
  if (search.tokens === 0 || search.value === undefined) {
    progress('nothing fits');
    return {
      ...base,
      status: 'none-fits',
      verifiedTokens: 0,
      probes: search.probes,
      decode: at.map((context) => ({ context, fits: false })),
    };
  }
  const { decode: largestDecode, ...measured } = search.value;
  const largestContext = search.tokens - extra;
  progress(
    `verified ${search.tokens} tokens; ${largestDecode.msPerToken.toFixed(2)} ms/token at ${largestContext}`,
  );
  const below = at.filter((context) => context < largestContext);
  const timed = await timeAt(
    options,
    combination.weights,
    policy,
    below,
    { steps, warmup },
    progress,
    decodeFigure,
  );
  const decode = [
    ...timed,
    decodeFigure(largestDecode, measured.weightBytes, true),
    ...at.filter((context) => context > largestContext).map((context) => ({ context, fits: false })),
  ];
  return {
    ...base,
    status: 'measured',
    verifiedTokens: search.tokens,
    largestContext,
    measured,
    probes: search.probes,
    decode,
  };
}

/** Loads at `tokens`, fills `tokens - extra`, decodes `extra` steps and checks the footprint. */
async function probe(
  options: CapacityBenchmarkOptions,
  weights: WeightFormat,
  policy: KvCachePolicy,
  plan: CapacityPlan,
  tokens: number,
  extra: number,
  warmup: number,
  steps: number,
): Promise<ProbeOutcome<CapacityMeasured>> {
  if (tokens <= extra) return { fits: false, reason: `too few tokens for ${extra} decode steps` };
  let executor: Executor;
  try {
    executor = await options.load(weights, policy, tokens);
  } catch (error) {
    if (isOutOfMemoryError(error)) return { fits: false, reason: `load: ${messageOf(error)}` };
    throw error;
  }
  try {
    let decode: DecodeMeasurement;
    try {
      [decode] = (await benchmarkDecode(executor, {
        contexts: [tokens - extra],
        steps,
        warmup,
        seed: options.seed ?? 0,
      })) as [DecodeMeasurement];
    } catch (error) {
      if (isOutOfMemoryError(error)) return { fits: false, reason: `fill or decode: ${messageOf(error)}` };
      throw error;
    }
    const { weightBytes } = executor.memory();
    const kvBytesAllocated = decode.kvBytesAllocatedAfterSteps;
    const scratchBytes = scratchBytesOf(executor);
    const excess = weightBytes + kvBytesAllocated - plan.usableBytes;
    if (excess > 0) {
      return {
        fits: false,
        reason: `weights ${weightBytes} B + KV caches ${kvBytesAllocated} B exceed the ${plan.usableBytes} B left after the headroom`,
        // What the planner did not count is mostly constant (weights kept in another dtype, padding
        // rows, double-buffered streaming caches), so this many fewer tokens should just fit.
        suggestion: tokens - Math.ceil(excess / plan.kvBytesPerToken),
      };
    }
    if (scratchBytes !== undefined && scratchBytes > plan.headroomBytes) {
      return {
        fits: false,
        reason: `scratch buffers of ${scratchBytes} B exceed the ${plan.headroomBytes} B headroom`,
      };
    }
    return {
      fits: true,
      value: {
        weightBytes,
        kvBytesAllocated,
        ...(scratchBytes !== undefined ? { scratchBytes } : {}),
        decode,
      },
    };
  } finally {
    await executor.dispose();
  }
}

/** Decode at each of `contexts` (ascending) on one executor sized for the largest of them. */
async function timeAt(
  options: CapacityBenchmarkOptions,
  weights: WeightFormat,
  policy: KvCachePolicy,
  contexts: readonly number[],
  timing: { readonly steps: number; readonly warmup: number },
  progress: (message: string) => void,
  figure: (m: DecodeMeasurement, weightBytes: number, largest: boolean) => CapacityDecode,
): Promise<CapacityDecode[]> {
  if (contexts.length === 0) return [];
  const maxTokens = contexts[contexts.length - 1]! + timing.warmup + timing.steps;
  let executor: Executor;
  try {
    executor = await options.load(weights, policy, maxTokens);
  } catch (error) {
    if (!isOutOfMemoryError(error)) throw error;
    progress(`could not load for ${maxTokens} tokens: ${messageOf(error)}`);
    return contexts.map((context) => ({ context, fits: false }));
  }
  try {
    const measurements = await benchmarkDecode(executor, {
      contexts,
      steps: timing.steps,
      warmup: timing.warmup,
      seed: options.seed ?? 0,
      onProgress: progress,
    });
    const { weightBytes } = executor.memory();
    return measurements.map((m) => figure(m, weightBytes, false));
  } finally {
    await executor.dispose();
  }
}

/** `scratchBytes()` of executors that have it (the cuda executor's activations and workspaces). */
function scratchBytesOf(executor: Executor): number | undefined {
  const candidate = (executor as { scratchBytes?: unknown }).scratchBytes;
  return typeof candidate === 'function' ? (candidate.call(executor) as number) : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
