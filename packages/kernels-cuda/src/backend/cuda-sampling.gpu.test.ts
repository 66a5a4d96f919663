// GPU only: on-device token selection (CudaExecutor.forwardSample) against core's host sampler.
// Greedy generation through the engine must give exactly the tokens of host sampling on the same
// executor, and toy-greedy.json's (the cpu backend's) up to the suite's near-tie rule; seeded sampling
// must pick, step by step, exactly the id sampleToken picks from the same logits with the same fp32 draw.
// Bundled into tools/device/bundle/cuda-suite.ts for the GPU machine (vitest shimmed there).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  argmax,
  createRng,
  type Executor,
  generate,
  type KvCachePolicy,
  type LoadOptions,
  loadModel,
  type ModelSource,
  policyFromMask,
  type ResolvedSamplingOptions,
  resolveSamplingOptions,
  type SamplingOptions,
  sampleToken,
} from '@duo-attn/core';
import { TOY_GREEDY_NEAR_TIE as NEAR_TIE, readToyGreedyFixtureSync } from '@duo-attn/core/testing';
import { describe, expect, it } from 'vitest';
import { createCudaBackend } from './cuda-backend.js';
import { CudaExecutor } from './cuda-executor.js';

const repo = process.env.DUO_REPO ?? fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * What this file checks, for the GPU machine's bundled suite (cuda-suite.ts), which imports it by
 * name: the package is side-effect free, so a bare import would be dropped with its tests.
 */
export const SAMPLING_SUITE = 'on-device sampling vs the host sampler';

const fixture = readToyGreedyFixtureSync();

async function loadCuda(
  model: ModelSource,
  policy: KvCachePolicy,
  options: LoadOptions,
): Promise<CudaExecutor> {
  const executor = await createCudaBackend().load(model, policy, options);
  if (!(executor instanceof CudaExecutor)) throw new Error('the cuda backend did not load a CudaExecutor');
  return executor;
}

/** The executor without forwardSample, so the engine samples on the host from copied logits. */
function hostSampling(executor: CudaExecutor): Executor {
  return {
    backendName: executor.backendName,
    config: executor.config,
    policy: executor.policy,
    maxTokens: executor.maxTokens,
    forward: (sequence, tokens, options) => executor.forward(sequence, tokens, options),
    length: (sequence) => executor.length(sequence),
    reset: (sequence) => executor.reset(sequence),
    memory: () => executor.memory(),
    dispose: () => executor.dispose(),
  };
}

async function greedyTokens(executor: Executor): Promise<number[]> {
  const tokens: number[] = [];
  for await (const token of generate(executor, fixture.promptIds, {
    greedy: true,
    maxNewTokens: fixture.newTokens,
    prefillChunkSize: fixture.prefillChunk,
  })) {
    tokens.push(token.id);
  }
  return tokens;
}

/** Counts the executor's forward and forwardSample calls (the engine must use the latter). */
function countCalls(executor: CudaExecutor): { forward: number; forwardSample: number } {
  const counts = { forward: 0, forwardSample: 0 };
  const forward = executor.forward.bind(executor);
  const forwardSample = executor.forwardSample.bind(executor);
  executor.forward = (...args: Parameters<CudaExecutor['forward']>) => {
    counts.forward++;
    return forward(...args);
  };
  executor.forwardSample = (...args: Parameters<CudaExecutor['forwardSample']>) => {
    counts.forwardSample++;
    return forwardSample(...args);
  };
  return counts;
}

describe('cuda on-device sampling: greedy generation through the engine', () => {
  for (const greedyCase of fixture.cases) {
    it(`${greedyCase.name}: ${fixture.newTokens} greedy tokens selected on the GPU equal host sampling's and the cpu backend's`, async () => {
      const model = await loadModel(join(repo, fixture.model));
      const policy = policyFromMask(greedyCase.mask, {
        sinkSize: greedyCase.sinkSize,
        recentSize: greedyCase.recentSize,
        cacheDtype: 'bf16',
      });
      const executor = await loadCuda(model, policy, {
        maxTokens: fixture.promptIds.length + fixture.newTokens + 1,
      });
      try {
        const host = await greedyTokens(hostSampling(executor));
        const counts = countCalls(executor);
        const tokens = await greedyTokens(executor);
        expect(tokens.length).toBe(fixture.newTokens);
        // Every chunk but the last through forward; the last chunk and each decode step sample.
        expect(counts.forward).toBe(Math.ceil(fixture.promptIds.length / fixture.prefillChunk) - 1);
        expect(counts.forwardSample).toBe(fixture.newTokens);
        // Same executor, same logits: the device argmax must equal the host's exactly.
        const vsHost = tokens.findIndex((id, i) => id !== host[i]);
        expect(vsHost, `first token where GPU and host argmax differ (gpu ${tokens.join(',')})`).toBe(-1);
        const vsCpu = tokens.findIndex((id, i) => id !== greedyCase.tokens[i]);
        const margin = greedyCase.margins[vsCpu];
        if (vsCpu >= 0 && margin !== undefined && margin < NEAR_TIE) {
          console.log(
            `  ${greedyCase.name}: equal to the cpu's for ${vsCpu} tokens, then a near tie (cpu margin ${margin})`,
          );
          return;
        }
        expect(vsCpu, `first token differing from the cpu's (cpu margin there ${margin ?? '-'})`).toBe(-1);
      } finally {
        await executor.dispose();
      }
    });
  }
});

const f = Math.fround;
/** fp32-representable values, so the kernels (fp32 parameters) and sampleToken see the same numbers. */
const SETTINGS: { name: string; options: SamplingOptions }[] = [
  { name: 'temperature 0.7', options: { temperature: f(0.7) } },
  { name: 'top-k 50 + top-p 0.9', options: { topK: 50, topP: f(0.9) } },
  { name: 'repetition penalty 1.3', options: { repetitionPenalty: f(1.3) } },
  { name: 'plain softmax (full-vocabulary path)', options: {} },
  { name: 'top-p 0.9 alone (full-vocabulary path)', options: { topP: f(0.9) } },
  { name: 'top-k 1500, temperature 1.5 (large top-k path)', options: { topK: 1500, temperature: 1.5 } },
  { name: 'greedy + repetition penalty 1.3', options: { greedy: true, repetitionPenalty: f(1.3) } },
];
const SEEDS = [1, 2];
const DECODE_STEPS = 48;
/** How far (absolute, in the normalised CDF; relative, in top_p) float rounding may move a boundary. */
const BOUNDARY_SLACK = 4e-6;

/** sampleToken with `uniform` as its one draw. */
function hostSample(
  logits: Float32Array,
  sampling: ResolvedSamplingOptions,
  uniform: number,
  previous: readonly number[],
): number {
  return sampleToken(logits, sampling, { nextFloat: () => uniform, nextUint32: () => 0 }, previous);
}

/**
 * Whether sampleToken picks `id` for some draw within BOUNDARY_SLACK of `uniform` (and top_p within
 * that relative slack): the rounding sampling.cuh documents. The walk goes through the kept ids in
 * ascending order, so for a fixed top_p the picked id never decreases as the draw grows; a
 * bisection over the draw finds `id` if any draw in the window picks it.
 */
function pickableNearDraw(
  logits: Float32Array,
  sampling: ResolvedSamplingOptions,
  uniform: number,
  previous: readonly number[],
  id: number,
): boolean {
  if (sampling.greedy) return false; // no draw: the argmax must agree exactly
  const topPs =
    sampling.topP < 1
      ? [
          sampling.topP * (1 - BOUNDARY_SLACK),
          sampling.topP,
          Math.min(1, sampling.topP * (1 + BOUNDARY_SLACK)),
        ]
      : [1];
  for (const topP of topPs) {
    const options = { ...sampling, topP };
    let lo = Math.max(0, uniform - BOUNDARY_SLACK);
    let hi = Math.min(1, uniform + BOUNDARY_SLACK);
    if (hostSample(logits, options, lo, previous) > id) continue; // even the smallest draw is past it
    if (hostSample(logits, options, hi, previous) < id) continue; // even the largest draw is before it
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      const picked = hostSample(logits, options, mid, previous);
      if (picked === id) return true;
      if (picked < id) lo = mid;
      else hi = mid;
    }
    if (
      hostSample(logits, options, lo, previous) === id ||
      hostSample(logits, options, hi, previous) === id
    ) {
      return true;
    }
  }
  return false;
}

describe('cuda on-device sampling: seeded draws equal sampleToken on the same logits', () => {
  // Non-greedy picks other than the argmax, over every setting: the comparison must not be vacuous.
  let departures = 0;
  for (const setting of SETTINGS) {
    it(`${setting.name}: ${SEEDS.length} seeds x ${DECODE_STEPS + 1} selections, no mismatch off a CDF boundary`, async () => {
      const greedyCase = fixture.cases.find((c) => c.name === 'mixed') ?? fixture.cases[0]!;
      const model = await loadModel(join(repo, fixture.model));
      const policy = policyFromMask(greedyCase.mask, {
        sinkSize: greedyCase.sinkSize,
        recentSize: greedyCase.recentSize,
        cacheDtype: 'bf16',
      });
      const prompt = fixture.promptIds;
      // Sequence 0: forward (the logits compared against); 1: forwardSample; 2: forward again, to
      // prove the forward is bitwise reproducible across sequences (else the comparison is void).
      const executor = await loadCuda(model, policy, {
        maxTokens: prompt.length + DECODE_STEPS + 1,
        maxSequences: 3,
      });
      const sampling = resolveSamplingOptions(setting.options);
      const boundaries: string[] = [];
      try {
        for (const seed of SEEDS) {
          for (const s of [0, 1, 2]) executor.reset(s);
          const rng = createRng(seed);
          const seen = sampling.repetitionPenalty === 1 ? undefined : new Set(prompt);
          const chunk = fixture.prefillChunk;
          let start = 0;
          for (; start + chunk < prompt.length; start += chunk) {
            for (const s of [0, 1, 2]) await executor.forward(s, prompt.slice(start, start + chunk));
          }
          let ids = prompt.slice(start);
          for (let step = 0; step <= DECODE_STEPS; step++) {
            const uniform = sampling.greedy ? 0 : rng.nextFloat();
            const previous = seen === undefined ? [] : [...seen];
            const reference = await executor.forward(0, ids);
            const id = await executor.forwardSample(1, ids, {
              ...sampling,
              uniform,
              ...(seen === undefined ? {} : { previousTokens: previous }),
            });
            const again = await executor.forward(2, ids);
            const logits = reference.logits;
            const differing = logits.findIndex((v, i) => !Object.is(v, again.logits[i]));
            expect(differing, `seed ${seed} step ${step}: logits of two sequences differ at id`).toBe(-1);
            // The kernels see the draw as fp32; so does the host sampler here.
            const host = hostSample(logits, sampling, f(uniform), previous);
            if (id !== host) {
              const where = `seed ${seed} step ${step}: gpu ${id}, host ${host}, uniform ${f(uniform)}`;
              if (!pickableNearDraw(logits, sampling, f(uniform), previous, id)) {
                throw new Error(`${where}: a mismatch that no draw within ${BOUNDARY_SLACK} explains`);
              }
              boundaries.push(where);
            }
            if (!sampling.greedy && id !== argmax(logits)) departures++;
            seen?.add(id);
            ids = [id];
          }
        }
      } finally {
        await executor.dispose();
      }
      if (boundaries.length > 0)
        console.log(`  ${setting.name}: CDF-boundary cases\n    ${boundaries.join('\n    ')}`);
      // The GPU's CDF boundaries sit within ~1e-7..1e-6 of the host's, so a draw between the two
      // has a probability well under 1e-3 per selection: one such case is chance, more means the
      // GPU's CDF is off.
      expect(boundaries.length, `CDF-boundary mismatches: ${boundaries.join('; ')}`).toBeLessThanOrEqual(1);
    });
  }

  it('the seeded runs above picked tokens other than the argmax (the comparison is not vacuous)', () => {
    expect(departures > 0, `non-argmax picks: ${departures}`).toBe(true);
  });
});
