// `duo demo`: the main job. On the bundled toy model it runs needle-in-a-haystack for full attention
// and streaming-only attention (and DuoAttention, once the toy has a trained pattern) on the same
// prompts, then prints accuracy and KV memory per policy and writes the heatmaps.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultModelDirectory } from '@duo-attn/core';
import { parseCommandArgs, stringOption } from '../cli-args.js';
import type { CliIo } from '../cli-io.js';
import { niah } from './niah.js';

export const DEMO_USAGE = `Usage: duo demo [--out DIR] [--lengths 1024,2048,4096,8192] [--depths 0,25,50,75,100] [--trials N] [--backend NAME]

Needle-in-a-haystack on the bundled toy model (a 5.8M-parameter Llama trained here to retrieve): full
attention vs streaming heads only (sink 16, recent 64; chunked prefill of 256 so streaming heads really
see only their window), on the same prompts. Prints accuracy and KV-cache memory per policy and writes
results.json and heatmaps to --out (default out/demo). A few minutes on 2 CPU cores.
`;

/** Where a trained DuoAttention pattern for the toy model would live. */
const TOY_PATTERN_DIR = 'pattern';

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
  const { text } = await niah(
    {
      model,
      policy: ['full', 'streaming'],
      ...(hasPattern ? { pattern } : {}),
      sink: '16',
      recent: '64',
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
  );
  io.stdout(text);
  io.stdout(
    `\nStreaming heads keep only 16 + 64 tokens, so they lose needles outside that window; full attention keeps\n` +
      `every token. DuoAttention keeps full caches only for the retrieval heads a trained pattern names.\n`,
  );
  if (!hasPattern) {
    io.stdout(
      `No trained DuoAttention pattern exists for the toy model yet (gate training is @duo-attn/train's job,\n` +
        `not implemented yet), so DuoAttention is not part of this run; try \`duo niah --pattern DIR\` with a pattern.\n`,
    );
  }
  io.stdout(`\nResults and heatmaps: ${out}\n`);
}
