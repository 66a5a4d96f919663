// The `duo` command: a thin composition of the duo-attn packages. Errors go to stderr with a
// non-zero exit: 2 for a wrong invocation, 1 for everything else.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DuoError } from '@duo-attn/core';
import { UsageError } from './cli-args.js';
import { type CliIo, processIo } from './cli-io.js';
import { runExample } from './commands/example.js';
import { PATTERN_USAGE, runPatternCommand } from './commands/pattern.js';

export const USAGE = `duo — DuoAttention for Node

Usage: duo <command> [options]

Commands:
  pattern    show, sparsify, measure, plot and create attention-pattern directories
  example    a short tour of \`duo pattern\` on a pattern generated here
  help       this text (also: duo <command> --help)

${PATTERN_USAGE}`;

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'pattern':
        await runPatternCommand(rest, io);
        return 0;
      case 'example':
        await runExample(rest, io);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"`, USAGE);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`duo: ${error.message}\n${error.usage ? `\n${error.usage}` : ''}`);
      return 2;
    }
    if (DuoError.isInstance(error)) {
      io.stderr(`duo: error: ${error.message}\n`);
      return 1;
    }
    io.stderr(
      `duo: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
