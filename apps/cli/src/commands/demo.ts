// `duo demo`: the main job. On the bundled toy model it runs needle-in-a-haystack on the same prompts
// for full attention, streaming-only attention, DuoAttention with the toy's trained pattern (25% of
// KV heads retrieval) and a control with the same number of retrieval heads picked at random, then
// prints accuracy and KV memory per policy and writes the heatmaps.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultModelDirectory, policyFromMask, readModelConfig } from '@duo-attn/core';
import { sparsify } from '@duo-attn/patterns';
import { parseCommandArgs, stringOption } from '../cli-args.js';
import type { CliIo } from '../cli-io.js';
import { type NiahPolicy, niah } from './niah.js';

export const DEMO_USAGE = `Usage: duo demo [--out DIR] [--lengths 1024,2048,4096,8192] [--depths 0,25,50,75,100] [--trials N] [--backend NAME]

Needle-in-a-haystack on the bundled toy model (a 5.8M-parameter Llama trained here to retrieve), on
the same prompts for four policies: full attention; streaming heads only (sink 16, recent 64; chunked
prefill of 256 so streaming heads really see only their window); DuoAttention with the toy's trained
pattern (models/toy-retrieval/pattern, made by \`duo train\`) at 25% retrieval heads; and a control with
as many retrieval heads picked at random. Prints accuracy and KV-cache memory per policy and writes
results.json and heatmaps to --out (default out/demo). A few minutes on 2 CPU cores.
Defaults: --lengths 1024,2048,4096,8192, --depths 0,25,50,75,100, --trials 1.
`;

/** The toy model's trained DuoAttention pattern (`duo train` output), inside the model directory. */
const TOY_PATTERN_DIR = 'pattern';
/** 25% of KV heads keep a full cache: 6 of the toy's 24. */
const DEMO_SPARSITY = 0.75;
const DEMO_WINDOW = { sinkSize: 16, recentSize: 64 } as const;
/** Seed of the random-heads control (fixed, so the demo prints the same table every run). */
const CONTROL_SEED = 1;

export async function runDemo(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  const args = parseCommandArgs(
    argv,
    {
      out: { type: 'string' },
      lengths: { type: 'string' },
      depths: { type: 'string' },
      trials: { type: 'string' },
      backend: { type: 'string' },
    },
    DEMO_USAGE,
  );
  const model = defaultModelDirectory();
  const pattern = join(model, TOY_PATTERN_DIR);
  const hasPattern = existsSync(join(pattern, 'full_attention_heads.tsv'));
  const out = resolve(stringOption(args, 'out') ?? 'out/demo');
  io.stdout(`DuoAttention demo on ${model}\n\n`);
  const control = hasPattern ? [await randomHeadsControl(model)] : [];
  const { text } = await niah(
    {
      model,
      policy: ['full', 'streaming'],
      ...(hasPattern ? { pattern, sparsity: String(DEMO_SPARSITY) } : {}),
      sink: String(DEMO_WINDOW.sinkSize),
      recent: String(DEMO_WINDOW.recentSize),
      lengths: stringOption(args, 'lengths') ?? '1024,2048,4096,8192',
      depths: stringOption(args, 'depths') ?? '0,25,50,75,100',
      trials: stringOption(args, 'trials') ?? '1',
      'prefill-chunk': '256',
      seed: '0',
      out,
      ...(stringOption(args, 'backend') !== undefined ? { backend: stringOption(args, 'backend') } : {}),
    },
    io,
    signal,
    control,
  );
  io.stdout(text);
  io.stdout(
    `\nStreaming heads keep only ${DEMO_WINDOW.sinkSize} + ${DEMO_WINDOW.recentSize} tokens, so they lose needles outside that window; full attention\n` +
      `keeps every token. DuoAttention keeps full caches only for the retrieval heads its trained pattern\n` +
      `names (a quarter of full attention's KV memory, plus the fixed streaming window); the random control has\n` +
      `as many full-cache heads, picked at random: the gap between the two is what the trained gates buy.\n`,
  );
  if (!hasPattern) {
    io.stdout(
      `No trained DuoAttention pattern at ${pattern}, so DuoAttention is not part of this run; \`duo train --out ${pattern}\`\n` +
        `makes one (on a GPU in seconds, see packages/train).\n`,
    );
  }
  io.stdout(`\nResults and heatmaps: ${out}\n`);
}

/**
 * The control: equal gates binarised at the demo's sparsity, so the seeded tie-break picks the same
 * number of retrieval heads as the trained pattern, uniformly at random.
 */
async function randomHeadsControl(model: string): Promise<NiahPolicy> {
  const config = await readModelConfig(model);
  const equal = Array.from({ length: config.numLayers }, () => new Array<number>(config.numKvHeads).fill(1));
  const { mask, retrievalHeads } = sparsify(equal, { sparsity: DEMO_SPARSITY, seed: CONTROL_SEED });
  return {
    name: 'random',
    policy: policyFromMask(mask, DEMO_WINDOW),
    description: `control: ${retrievalHeads} of ${config.numLayers * config.numKvHeads} KV heads retrieval picked at random (seed ${CONTROL_SEED}), sink ${DEMO_WINDOW.sinkSize}, recent ${DEMO_WINDOW.recentSize}`,
  };
}
