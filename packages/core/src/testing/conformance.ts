// The conformance suite every backend runs (DESIGN §4): logits against goldens from HF transformers
// and an independent float64 implementation, for full, streaming-only and mixed policies, chunked
// prefill at several sizes, decode, GQA and MHA, llama3 RoPE, tied embeddings and Mistral.
import { describe, expect, it } from 'vitest';
import type { Backend, Executor, ModelSource } from '../backend/backend.js';
import { generate } from '../engine/engine.js';
import { loadModel } from '../model/load-model.js';
import type { ModelConfig } from '../model/model-types.js';
import { fullPolicy, policyFromMask } from '../policy/create-policy.js';
import type { KvCacheDtype, KvCachePolicy } from '../policy/kv-cache-policy.js';
import { planMemory } from '../policy/memory-planner.js';
import { compareLogits, describeComparison } from './compare-logits.js';
import {
  GOLDEN_MODELS,
  type GoldenCase,
  type GoldenModel,
  openGoldenModel,
  readGoldenManifestSync,
} from './golden-fixtures.js';

/** How strict the suite is, and what it leaves out (the coverage matrix, with reasons). */
export interface ConformanceOptions {
  /** Max absolute logit error allowed (default 1e-3, for float32 backends). */
  readonly absoluteTolerance?: number;
  /** If set, max |error| / max |golden| allowed instead of the absolute bound (low-precision backends). */
  readonly relativeTolerance?: number;
  /** Fixture models to skip, each with the reason (shown in the test name). */
  readonly skipModels?: Readonly<Partial<Record<(typeof GOLDEN_MODELS)[number], string>>>;
  /** Timeout per test in ms (default 120 s). */
  readonly timeoutMs?: number;
  /** KV cache dtype of every policy the suite builds (default `fp32`; the cuda backend keeps `bf16`). */
  readonly cacheDtype?: KvCacheDtype;
  /**
   * Turns each fixture model into what the backend loads, e.g. W8A8 (`quantizeLinears`); default the
   * float model. The goldens stay the float model's, so set a tolerance for the transformation's error.
   */
  readonly prepareModel?: (model: ModelSource) => ModelSource | Promise<ModelSource>;
}

/**
 * Declares the conformance tests for `backend` with vitest. Call it at the top level of a test file:
 * `describeBackendConformance(() => createMyBackend())`.
 */
export function describeBackendConformance(
  getBackend: () => Backend | Promise<Backend>,
  options: ConformanceOptions = {},
): void {
  const timeout = options.timeoutMs ?? 120_000;
  const cacheDtype = options.cacheDtype ?? 'fp32';
  const full = (shape: ModelConfig) => fullPolicy(shape, { cacheDtype });
  const policyOf = (goldenCase: GoldenCase) => policyOfCase(goldenCase, cacheDtype);
  const check = (what: string, actual: Float32Array, expected: Float32Array, vocabSize: number) => {
    const comparison = compareLogits(actual, expected, vocabSize);
    const message = describeComparison(what, comparison);
    if (options.relativeTolerance !== undefined) {
      expect(comparison.relativeError, message).toBeLessThanOrEqual(options.relativeTolerance);
    } else {
      expect(comparison.maxAbsoluteError, message).toBeLessThanOrEqual(options.absoluteTolerance ?? 1e-3);
    }
  };

  for (const modelName of GOLDEN_MODELS) {
    const skipReason = options.skipModels?.[modelName];
    describe.skipIf(skipReason !== undefined)(
      `conformance: ${modelName}${skipReason ? ` (skipped: ${skipReason})` : ''}`,
      () => {
        let golden: GoldenModel;
        let backend: Backend;
        let model: Awaited<ReturnType<typeof loadModel>>;
        let prepared: ModelSource;
        const load = async (
          policy: KvCachePolicy,
          maxTokens: number,
          maxSequences = 1,
        ): Promise<Executor> => {
          golden ??= await openGoldenModel(modelName);
          backend ??= await getBackend();
          model ??= await loadModel(golden.directory);
          prepared ??= options.prepareModel === undefined ? model : await options.prepareModel(model);
          return backend.load(prepared, policy, { maxTokens, maxSequences });
        };

        it(
          'full attention over the whole sequence matches HF transformers',
          async () => {
            const executor = await load(full(await shapeOf()), 64);
            try {
              const { inputIds, hf } = golden.manifest;
              const result = await executor.forward(0, inputIds, { allLogits: true });
              expect(result.numRows).toBe(inputIds.length);
              check('vs HF logits', result.logits, await golden.tensor(hf.fullLogits), result.vocabSize);
            } finally {
              await executor.dispose();
            }
          },
          timeout,
        );

        it(
          options.relativeTolerance === undefined
            ? 'greedy decoding reproduces HF generate()'
            : 'greedy decoding reproduces HF generate() up to the first near tie (within the relative tolerance)',
          async () => {
            const executor = await load(full(await shapeOf()), 64);
            try {
              const { promptIds, tokens } = golden.manifest.hf.greedy;
              if (options.relativeTolerance === undefined) {
                const generated: number[] = [];
                for await (const token of generate(executor, promptIds, {
                  greedy: true,
                  maxNewTokens: tokens.length,
                })) {
                  generated.push(token.id);
                }
                expect(generated).toEqual(tokens);
                return;
              }
              // A low-precision backend may pick the other token where HF's top two are closer than
              // its error bound; it must agree up to that step, and there its own logits must show the
              // golden token within that bound of its choice (a real disagreement fails).
              const vocabSize = executor.config.vocabSize;
              let result = await executor.forward(0, promptIds);
              for (const [step, expected] of tokens.entries()) {
                const logits = result.logits.subarray(0, vocabSize);
                let chosen = 0;
                let maxAbs = 0;
                for (let id = 0; id < vocabSize; id++) {
                  if (logits[id]! > logits[chosen]!) chosen = id;
                  maxAbs = Math.max(maxAbs, Math.abs(logits[id]!));
                }
                if (chosen !== expected) {
                  const gap = logits[chosen]! - logits[expected]!;
                  expect(
                    gap,
                    `step ${step}: chose ${chosen}, HF chose ${expected}; logit gap ${gap} vs bound ${options.relativeTolerance * maxAbs}`,
                  ).toBeLessThanOrEqual(options.relativeTolerance * maxAbs);
                  return;
                }
                if (step + 1 < tokens.length) result = await executor.forward(0, [expected]);
              }
            } finally {
              await executor.dispose();
            }
          },
          timeout,
        );

        describe('DuoAttention policies, chunked prefill then decode', () => {
          // Cases are listed in the manifest; read it synchronously at collection time.
          for (const goldenCase of readGoldenManifestSync(modelName).cases) {
            it(
              `${goldenCase.policy}, S=${goldenCase.sinkSize} R=${goldenCase.recentSize}, prefill ${goldenCase.prefillLength} in chunks of ${goldenCase.prefillChunkSize}`,
              async () => {
                const policy = policyOf(goldenCase);
                const executor = await load(policy, 64);
                try {
                  const actual = await runCase(executor, golden.manifest.inputIds, goldenCase);
                  check(
                    goldenCase.name,
                    actual,
                    await golden.tensor(goldenCase.logits),
                    executor.config.vocabSize,
                  );
                } finally {
                  await executor.dispose();
                }
              },
              timeout,
            );
          }
        });

        it(
          'rejects ids outside the vocabulary and prompts beyond capacity, and keeps working after',
          async () => {
            const executor = await load(full(await shapeOf()), 16);
            try {
              const vocabSize = executor.config.vocabSize;
              await expect(executor.forward(0, [1, vocabSize])).rejects.toThrow(/vocab|token id/i);
              await expect(
                executor.forward(
                  0,
                  Array.from({ length: 17 }, () => 1),
                ),
              ).rejects.toThrow(/capacity|maxTokens|exceed/i);
              expect(executor.length(0)).toBe(0);
              const ids = golden.manifest.inputIds.slice(0, 8);
              const first = await executor.forward(0, ids, { allLogits: true });
              executor.reset(0);
              const again = await executor.forward(0, ids, { allLogits: true });
              expect(compareLogits(again.logits, first.logits, vocabSize).maxAbsoluteError).toBe(0);
            } finally {
              await executor.dispose();
            }
          },
          timeout,
        );

        it(
          'fillSyntheticCache (when the backend has it) holds tokens accounted as the planner predicts, and decoding continues',
          async (context) => {
            const mixed = golden.manifest.cases.find((c) => c.policy === 'mixed')!;
            const policy = policyOf(mixed);
            const executor = await load(policy, 64);
            try {
              if (executor.fillSyntheticCache === undefined) {
                context.skip();
                return;
              }
              await executor.fillSyntheticCache(0, 40, 7);
              expect(executor.length(0)).toBe(40);
              const plan = planMemory(executor.config, policy, { weightDtype: 'fp32' });
              const memory = executor.memory();
              expect(memory.retrievalKvBytesUsed).toBe(plan.policy.kvBytesPerToken * 40);
              // 40 tokens exceed S + R, so the streaming caches are full.
              expect(memory.streamingKvBytesUsed).toBe(plan.policy.streamingKvBytes);
              const result = await executor.forward(0, [1]);
              expect(result.logits.every(Number.isFinite)).toBe(true);
              expect(executor.length(0)).toBe(41);
              await expect(executor.fillSyntheticCache(0, 65)).rejects.toThrow(/at most 64/);
            } finally {
              await executor.dispose();
            }
          },
          timeout,
        );

        it(
          'forwardBatch (when the backend has it) decodes several sequences at different lengths as forward does',
          async (context) => {
            golden ??= await openGoldenModel(modelName);
            const mixed = golden.manifest.cases.find((c) => c.policy === 'mixed')!;
            const policy = policyOf(mixed);
            const batched = await load(policy, 64, 3);
            const single = await load(policy, 64, 3);
            try {
              if (batched.forwardBatch === undefined) {
                context.skip();
                return;
              }
              const ids = golden.manifest.inputIds;
              const vocabSize = batched.config.vocabSize;
              // Sequence 0 follows the golden case (chunked prefill, then decode); sequence 1 starts
              // empty and decodes from the first token; sequence 2 prefills a shorter prompt.
              const starts = [mixed.prefillLength, 0, Math.max(1, mixed.prefillLength - 5)];
              const rows: Float32Array[][] = [[], [], []];
              for (let position = 0; position < mixed.prefillLength; ) {
                const end = Math.min(mixed.prefillLength, position + mixed.prefillChunkSize);
                const chunk = await batched.forward(0, ids.slice(position, end), { allLogits: true });
                rows[0]!.push(chunk.logits.slice());
                position = end;
              }
              await batched.forward(2, ids.slice(0, starts[2]));
              await single.forward(2, ids.slice(0, starts[2]));
              const golden0 = await golden.tensor(mixed.logits);
              const singles: Float32Array[][] = [[], [], []];
              const positions = [...starts];
              await expect(
                batched.forwardBatch([
                  { sequence: 1, token: ids[0]! },
                  { sequence: 1, token: ids[1]! },
                ]),
              ).rejects.toThrow(/twice/);
              while (positions.some((position) => position < ids.length)) {
                const steps = positions.flatMap((position, sequence) =>
                  position < ids.length ? [{ sequence, token: ids[position]! }] : [],
                );
                const result = await batched.forwardBatch(steps);
                expect(result.numRows).toBe(steps.length);
                expect(result.aborted).toEqual(steps.map(() => false));
                for (const [row, step] of steps.entries()) {
                  rows[step.sequence]!.push(result.logits.slice(row * vocabSize, (row + 1) * vocabSize));
                  if (step.sequence > 0) {
                    const one = await single.forward(step.sequence, [step.token]);
                    singles[step.sequence]!.push(one.logits.slice(0, vocabSize));
                  }
                  positions[step.sequence]! += 1;
                }
              }
              expect(positions.map((_, sequence) => batched.length(sequence))).toEqual(positions);
              // As the golden case's own test: prefill rows, then the decode rows (here batched).
              check('sequence 0 vs the golden case', concatRows(rows[0]!), golden0, vocabSize);
              check('sequence 1 vs forward', concatRows(rows[1]!), concatRows(singles[1]!), vocabSize);
              check('sequence 2 vs forward', concatRows(rows[2]!), concatRows(singles[2]!), vocabSize);

              // A step whose own signal is aborted is skipped: its sequence does not advance.
              batched.reset(1);
              await batched.forward(1, ids.slice(0, 4));
              const controller = new AbortController();
              controller.abort();
              const partial = await batched.forwardBatch([
                { sequence: 1, token: ids[4]! },
                { sequence: 2, token: ids[0]!, signal: controller.signal },
              ]);
              expect(partial.aborted).toEqual([false, true]);
              expect(batched.length(1)).toBe(5);
              expect(batched.length(2)).toBe(ids.length);
            } finally {
              await batched.dispose();
              await single.dispose();
            }
          },
          timeout,
        );

        async function shapeOf() {
          golden ??= await openGoldenModel(modelName);
          model ??= await loadModel(golden.directory);
          return model.config;
        }
      },
    );
  }
}

function policyOfCase(goldenCase: GoldenCase, cacheDtype: KvCacheDtype): KvCachePolicy {
  const options = { sinkSize: goldenCase.sinkSize, recentSize: goldenCase.recentSize, cacheDtype };
  return policyFromMask(goldenCase.mask, options);
}

/** Prefills in chunks (all logits), then decodes one token at a time; returns `[ids.length, vocab]`. */
async function runCase(
  executor: Executor,
  ids: readonly number[],
  goldenCase: GoldenCase,
): Promise<Float32Array> {
  const vocabSize = executor.config.vocabSize;
  const out = new Float32Array(ids.length * vocabSize);
  let position = 0;
  while (position < goldenCase.prefillLength) {
    const end = Math.min(goldenCase.prefillLength, position + goldenCase.prefillChunkSize);
    const result = await executor.forward(0, ids.slice(position, end), { allLogits: true });
    out.set(result.logits, position * vocabSize);
    position = end;
  }
  for (; position < ids.length; position++) {
    const result = await executor.forward(0, [ids[position]!]);
    out.set(result.logits, position * vocabSize);
  }
  return out;
}

/** Rows of `[vocab]` logits stacked into one `[rows, vocab]` array. */
function concatRows(rows: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((sum, row) => sum + row.length, 0));
  let offset = 0;
  for (const row of rows) {
    out.set(row, offset);
    offset += row.length;
  }
  return out;
}
