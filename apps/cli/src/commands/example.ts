// `duo example`: the README's first command ends here. It generates a synthetic pattern (no
// downloads, no trained data needed) and runs every `duo pattern` subcommand on it.
import { resolve } from 'node:path';
import { parseCommandArgs, stringOption } from '../cli-args.js';
import type { CliIo } from '../cli-io.js';
import { runPatternCommand } from './pattern.js';

const EXAMPLE_USAGE = 'Usage: duo example [--out DIR]   (default DIR: out/example)\n';

export async function runExample(argv: readonly string[], io: CliIo): Promise<void> {
  const args = parseCommandArgs(argv, { out: { type: 'string' } }, EXAMPLE_USAGE);
  const out = resolve(stringOption(args, 'out') ?? 'out/example');
  const pattern = `${out}/pattern`;
  const steps: string[][] = [
    ['create', '--out', pattern, '--layers', '16', '--kv-heads', '8', '--seed', '1'],
    ['show', pattern],
    ['sparsify', pattern, '--sparsity', '0.5', '--out', `${out}/mask-50`],
    ['stats', pattern, '--sparsity', '0.5', '--head-dim', '128', '--dtype', 'bf16'],
    ['plot', pattern, '--out', `${out}/gates.svg`],
    ['plot', pattern, '--out', `${out}/gates.png`],
    ['plot', pattern, '--mask', '--sparsity', '0.5', '--out', `${out}/mask-50.png`],
  ];
  for (const step of steps) {
    io.stdout(`\n$ duo pattern ${step.join(' ')}\n`);
    await runPatternCommand(step, io);
  }
}
