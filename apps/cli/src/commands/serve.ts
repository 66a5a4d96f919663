// `duo serve`: the OpenAI-compatible server of @duo-attn/server, run until Ctrl-C (or SIGTERM), then
// shut down gracefully: running requests may finish for --grace ms.
import { SERVE_USAGE, ServeUsageError, startServer } from '@duo-attn/server';
import { UsageError } from '../cli-args.js';
import type { CliIo } from '../cli-io.js';

export { SERVE_USAGE };

export async function runServe(argv: readonly string[], io: CliIo, signal?: AbortSignal): Promise<void> {
  let started: Awaited<ReturnType<typeof startServer>>;
  try {
    started = await startServer({ argv, log: (line) => io.stderr(`${line}\n`), handleSignals: false });
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    if (error instanceof ServeUsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      throw new UsageError((error as Error).message, SERVE_USAGE);
    }
    throw error;
  }
  // Serve until the CLI's signal says stop (Ctrl-C); SIGTERM does the same.
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    signal?.addEventListener('abort', stop, { once: true });
    process.once('SIGTERM', stop);
  });
  io.stderr('duo serve: stopping (running requests may finish first)\n');
  await started.stop();
}
