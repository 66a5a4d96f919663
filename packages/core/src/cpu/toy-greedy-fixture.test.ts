// The cpu backend's greedy tokens on the bundled toy model, kept in fixtures/toy-greedy.json: other
// backends (cuda, on the GPU machine) must reproduce them token for token. This test fails when the
// cpu backend's output drifts from the fixture; DUO_UPDATE_FIXTURES=1 rewrites it instead.
// With each token the fixture keeps the cpu's margin (top-1 minus top-2 logit) at that step: a bf16
// backend can only be asked to agree where the margin exceeds its rounding, and the toy model's
// free-running text has near ties (margins of 0.005 logits are common), so the mixed mask is one whose
// 64 steps all keep a margin above MIN_MIXED_MARGIN.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Executor } from '../backend/backend.js';
import { generate } from '../engine/engine.js';
import { defaultModelDirectory } from '../model/default-model.js';
import { loadModel } from '../model/load-model.js';
import { policyFromMask } from '../policy/create-policy.js';
import { toyGreedyFixturePath } from '../testing/toy-greedy-fixture.js';
import { loadTokenizer } from '../tokenizer/tokenizer.js';
import { createCpuBackend } from './cpu-backend.js';

const FIXTURE = toyGreedyFixturePath();
const NEW_TOKENS = 64;
const PREFILL_CHUNK = 128;
const SINK = 16;
const RECENT = 64;
/** How far a recomputed margin may drift from the stored one (logits): float32 reduction order. */
const MARGIN_TOLERANCE = 2e-3;
/** The mixed case's smallest margin must stay above this (logits). */
const MIN_MIXED_MARGIN = 0.01;

// A prompt longer than sink + recent, so streaming heads really drop tokens during chunked prefill.
const PROMPT = [
  'The river ran past the mill and under the old stone bridge, where the children of the village',
  'gathered every evening to count the boats. The key of the blue door is 4817265. Nobody in the',
  'village remembered who had built the bridge, but everybody agreed that it had stood for longer',
  'than the church, the school and the mill together. In winter the river froze and the boats',
  'stayed on the bank, and the children counted the crows instead. What is the key of the blue door?',
  'The key of the blue door is',
].join(' ');

function masks(numLayers: number, numKvHeads: number) {
  const every = (value: number) =>
    Array.from({ length: numLayers }, () => Array<number>(numKvHeads).fill(value));
  // Mixed: the first half of the KV heads are retrieval heads on even layers, the second half on odd
  // layers, so both classes appear in every layer. (Alternating single heads put a 0.0065-logit near
  // tie at the second generated token.)
  const mixed = Array.from({ length: numLayers }, (_, layer) =>
    Array.from({ length: numKvHeads }, (_, head) => ((head < numKvHeads / 2 ? 0 : 1) === layer % 2 ? 1 : 0)),
  );
  return [
    { name: 'full', mask: every(1) },
    { name: 'streaming', mask: every(0) },
    { name: 'mixed', mask: mixed },
  ];
}

/**
 * The margin (top-1 minus top-2 logit, rounded to 1e-4) at each generated token, replaying the
 * calls generate() made: the prompt in PREFILL_CHUNK chunks, then one token per step.
 */
async function greedyMargins(executor: Executor, promptIds: readonly number[], tokens: readonly number[]) {
  executor.reset(0);
  let logits: Float32Array | undefined;
  for (let start = 0; start < promptIds.length; start += PREFILL_CHUNK) {
    logits = (await executor.forward(0, promptIds.slice(start, start + PREFILL_CHUNK))).logits;
  }
  const margins: number[] = [];
  for (const [index, token] of tokens.entries()) {
    let first = Number.NEGATIVE_INFINITY;
    let second = Number.NEGATIVE_INFINITY;
    for (const value of logits!) {
      if (value > first) {
        second = first;
        first = value;
      } else if (value > second) {
        second = value;
      }
    }
    margins.push(Math.round((first - second) * 1e4) / 1e4);
    if (index + 1 < tokens.length) logits = (await executor.forward(0, [token])).logits;
  }
  return margins;
}

describe('toy-model greedy fixture (cpu backend)', () => {
  it(`${NEW_TOKENS} greedy tokens per policy match fixtures/toy-greedy.json`, async () => {
    const directory = defaultModelDirectory();
    const model = await loadModel(directory);
    const tokenizer = await loadTokenizer(directory);
    const promptIds = tokenizer.encode(PROMPT);
    const backend = createCpuBackend();
    const cases = [];
    for (const { name, mask } of masks(model.config.numLayers, model.config.numKvHeads)) {
      const policy = policyFromMask(mask, { sinkSize: SINK, recentSize: RECENT });
      const executor = await backend.load(model, policy, { maxTokens: promptIds.length + NEW_TOKENS + 1 });
      try {
        const tokens: number[] = [];
        for await (const token of generate(executor, promptIds, {
          greedy: true,
          maxNewTokens: NEW_TOKENS,
          prefillChunkSize: PREFILL_CHUNK,
        })) {
          tokens.push(token.id);
        }
        const margins = await greedyMargins(executor, promptIds, tokens);
        cases.push({ name, mask, sinkSize: SINK, recentSize: RECENT, tokens, margins });
      } finally {
        await executor.dispose();
      }
    }
    const fixture = {
      model: 'models/toy-retrieval',
      promptIds,
      newTokens: NEW_TOKENS,
      prefillChunk: PREFILL_CHUNK,
      cases,
    };
    if (process.env.DUO_UPDATE_FIXTURES === '1') {
      writeFileSync(FIXTURE, `${JSON.stringify(fixture)}\n`);
    }
    // Tokens must match exactly; margins only within float32 noise, because onnxruntime picks
    // different (equally correct) kernels on different CPUs and the fourth decimal moves.
    const stored = JSON.parse(readFileSync(FIXTURE, 'utf8')) as typeof fixture;
    const withoutMargins = (f: typeof fixture) => ({
      ...f,
      cases: f.cases.map(({ margins: _margins, ...rest }) => rest),
    });
    expect(withoutMargins(fixture)).toEqual(withoutMargins(stored));
    for (const [i, stale] of stored.cases.entries()) {
      const fresh = cases[i]!;
      expect(fresh.margins).toHaveLength(stale.margins.length);
      for (const [step, margin] of fresh.margins.entries()) {
        expect(Math.abs(margin - stale.margins[step]!), `${fresh.name} step ${step}`).toBeLessThan(
          MARGIN_TOLERANCE,
        );
      }
    }
    const mixed = cases.find((c) => c.name === 'mixed')!;
    expect(Math.min(...mixed.margins)).toBeGreaterThan(MIN_MIXED_MARGIN);
  });
});
