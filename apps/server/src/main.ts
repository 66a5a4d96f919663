// The `duo-server` executable (`pnpm --filter @duo-attn/server start`): serves the bundled toy
// model by default; `--help` lists every option.
import { SERVE_USAGE, ServeUsageError, startServer } from './start-server.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(SERVE_USAGE);
} else {
  startServer({ argv }).catch((error: unknown) => {
    const usage =
      error instanceof ServeUsageError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`duo-server: ${error instanceof Error ? error.message : String(error)}\n`);
    if (usage) process.stderr.write(`\n${SERVE_USAGE}`);
    process.exit(usage ? 2 : 1);
  });
}
