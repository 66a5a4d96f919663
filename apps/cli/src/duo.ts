// The `duo` command: a thin composition of the duo-attn packages. Errors go to stderr with a
// non-zero exit: 2 for a wrong invocation, 1 for everything else.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DuoError } from '@duo-attn/core';
import { registerCudaBackend } from '@duo-attn/kernels-cuda';
import { UsageError } from './cli-args.js';
import { type CliIo, processIo } from './cli-io.js';
import { BENCH_USAGE, runBench } from './commands/bench.js';
import { DEMO_USAGE, runDemo } from './commands/demo.js';
import { runExample } from './commands/example.js';
import { GENERATE_USAGE, runGenerate } from './commands/generate.js';
import { INFO_USAGE, runInfo } from './commands/info.js';
import { LONGBENCH_USAGE, runLongBench } from './commands/longbench.js';
import { NIAH_USAGE, runNiah } from './commands/niah.js';
import { PATTERN_USAGE, runPatternCommand } from './commands/pattern.js';
import { QUANTIZE_USAGE, runQuantize } from './commands/quantize.js';
import { runScore, SCORE_USAGE } from './commands/score.js';
import { runServe, SERVE_USAGE } from './commands/serve.js';
import { runTrain, TRAIN_USAGE } from './commands/train.js';
import { INTERRUPTED_EXIT_CODE, InterruptedError } from './interrupted.js';

// The cuda backend joins core's cpu and reference backends: picked first when a usable GPU and the
// built addon are there, otherwise skipped with its reason (`--backend cuda` then names it).
registerCudaBackend();

export const USAGE = `duo — DuoAttention for Node

Usage: duo <command> [options]   (model commands default to the bundled toy model)

Commands:
  demo       the main job: needle-in-a-haystack on the bundled toy model, full vs streaming attention
  info       architecture, parameters and KV-cache memory of a model under a policy
  generate   stream a completion under full, streaming-only or DuoAttention policies
  score      teacher-forced logits (chunked prefill, then decode steps)
  niah       needle-in-a-haystack retrieval accuracy over lengths x depths
  longbench  LongBench / LongBench-E with the official metrics, resumable, per policy
  bench      decode/prefill latency, KV memory and the largest context that fits, per policy, any backend
  serve      an OpenAI-compatible HTTP server (completions, chat, streaming, metrics)
  train      identify retrieval heads: train one gate per KV head, write an attention pattern
  quantize   write a W8A8 checkpoint (SmoothQuant int8 weights) that --model then runs as W8A8
  pattern    show, sparsify, measure, plot and create attention-pattern directories
  example    a short tour of \`duo pattern\` on a pattern generated here
  help       this text (also: duo <command> --help)
  version    the version of the duo CLI (also: duo --version, duo -v)

Run \`duo <command> --help\` for a command's options.
`;

const COMMAND_USAGE: Record<string, string> = {
  info: INFO_USAGE,
  generate: GENERATE_USAGE,
  score: SCORE_USAGE,
  niah: NIAH_USAGE,
  longbench: LONGBENCH_USAGE,
  bench: BENCH_USAGE,
  demo: DEMO_USAGE,
  pattern: PATTERN_USAGE,
  train: TRAIN_USAGE,
  quantize: QUANTIZE_USAGE,
  serve: SERVE_USAGE,
};

/** The CLI package's version (package.json sits one level above both src/ and dist/). */
export function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  signal?: AbortSignal,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (
      command !== undefined &&
      COMMAND_USAGE[command] &&
      (rest.includes('--help') || rest.includes('-h')) &&
      command !== 'pattern'
    ) {
      io.stdout(COMMAND_USAGE[command]!);
      return 0;
    }
    switch (command) {
      case 'info':
        await runInfo(rest, io);
        return 0;
      case 'generate':
        await runGenerate(rest, io, signal);
        return 0;
      case 'score':
        await runScore(rest, io, signal);
        return 0;
      case 'niah':
        await runNiah(rest, io, signal);
        return 0;
      case 'longbench':
        await runLongBench(rest, io, signal);
        return 0;
      case 'demo':
        await runDemo(rest, io, signal);
        return 0;
      case 'bench':
        await runBench(rest, io);
        return 0;
      case 'train':
        await runTrain(rest, io, signal);
        return 0;
      case 'quantize':
        await runQuantize(rest, io, signal);
        return 0;
      case 'serve':
        await runServe(rest, io, signal);
        return 0;
      case 'pattern':
        await runPatternCommand(rest, io);
        return 0;
      case 'example':
        await runExample(rest, io);
        return 0;
      case 'version':
      case '--version':
      case '-v':
        io.stdout(`${cliVersion()}\n`);
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
    if (error instanceof InterruptedError || (DuoError.isInstance(error) && error.code === 'E_ABORTED')) {
      io.stderr(`duo: ${error.message}\n`);
      return INTERRUPTED_EXIT_CODE;
    }
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
  // Ctrl-C stops the command cleanly: generation ends with reason 'aborted', niah keeps the trials
  // that finished, and the CLI exits 130. A second Ctrl-C exits at once (every output is written
  // atomically, so even then no file is left half-written).
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nduo: interrupting (Ctrl-C again to quit at once)\n');
    controller.abort(new InterruptedError('interrupted by the user'));
    process.once('SIGINT', () => process.exit(INTERRUPTED_EXIT_CODE));
  });
  main(process.argv.slice(2), processIo, controller.signal).then((code) => {
    process.exitCode = code;
  });
}
