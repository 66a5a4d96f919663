// `duo-server` / `duo serve`: parses the command line, loads the model, serves it until SIGINT or
// SIGTERM, then shuts down gracefully (running requests get a grace period) and frees the model.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultModelDirectory } from '@duo-attn/core';
import { type LoadLanguageModelOptions, loadLanguageModel } from '@duo-attn/llm';
import { createServer, type DuoServer } from './create-server.js';

export const SERVE_USAGE = `Usage: duo serve [--model DIR] [--pattern DIR [--sparsity S | --threshold T]] [--policy full|streaming]
                 [--sink N] [--recent N] [--backend NAME] [--host H] [--port P] [--api-key KEY ...]
                 [--max-sequences N] [--max-tokens N] [--max-queue N] [--kv-budget BYTES]
                 [--timeout MS] [--grace MS] [--model-id ID] [--quiet]

An OpenAI-compatible server: POST /v1/completions and /v1/chat/completions (stream: true sends
server-sent events ending with data: [DONE]), GET /v1/models, /health and /metrics (Prometheus).

  --model DIR          Hugging Face model directory (default: the bundled toy model)
  --pattern DIR        DuoAttention: retrieval heads from this pattern (default: the bundled toy model's
                       own pattern/ at --sparsity 0.75 when serving it; other models: full attention)
  --sparsity S         fraction of KV heads made streaming heads (default 0.5; 0.75 for the toy's pattern)
  --threshold T        instead of --sparsity: retrieval heads have gates >= T
  --policy P           full or streaming, instead of a pattern
  --sink N, --recent N streaming heads' sink and recent tokens (default: the pattern's)
  --backend NAME       cpu, cuda or reference (default: the best available)
  --host H, --port P   where to listen (default 127.0.0.1:8080)
  --api-key KEY        require Authorization: Bearer KEY on /v1/* (repeatable; also $DUO_API_KEY)
  --max-sequences N    requests generating at once (default 4); their decode steps share batched passes
  --no-batch-decode    run each request's decode steps alone instead (default: batched where the backend can)
  --prefill-chunk N    prompt tokens per prefill pass; bounds how long a long prompt stalls running
                       streams (default 2048)
  --max-tokens N       KV-cache tokens per sequence (default: the model's context)
  --max-queue N        requests that may wait before 429 (default 64)
  --kv-budget BYTES    KV bytes all running requests may reserve (default: what the sequences hold)
  --timeout MS         abort a request after this long (default 600000)
  --grace MS           on SIGINT/SIGTERM, let running requests finish this long (default 30000)
  --model-id ID        the model name clients send (default: the model directory's name)
  --quiet              no request logs (default: JSON lines on stdout)
`;

/** The server's own defaults (also in {@link SERVE_USAGE}). */
export const SERVE_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  maxSequences: 4,
  graceMs: 30_000,
  toySparsity: 0.75,
} as const;

/** A bad command line; the message names the option. */
export class ServeUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServeUsageError';
  }
}

/** Options of {@link startServer}, as the command line gives them. */
export interface StartServerOptions {
  readonly argv: readonly string[];
  /** Where the startup line goes. Default: stderr. */
  readonly log?: (line: string) => void;
  /** Install SIGINT/SIGTERM handlers that shut down gracefully. Default true. */
  readonly handleSignals?: boolean;
}

/** Loads the model the command line names and starts serving it; resolves once listening. */
export async function startServer(
  options: StartServerOptions,
): Promise<{ server: DuoServer; url: string; stop: () => Promise<void> }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { values } = parseArgs({
    args: [...options.argv],
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      pattern: { type: 'string' },
      sparsity: { type: 'string' },
      threshold: { type: 'string' },
      policy: { type: 'string' },
      sink: { type: 'string' },
      recent: { type: 'string' },
      backend: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'api-key': { type: 'string', multiple: true },
      'max-sequences': { type: 'string' },
      'max-tokens': { type: 'string' },
      'max-queue': { type: 'string' },
      'kv-budget': { type: 'string' },
      timeout: { type: 'string' },
      grace: { type: 'string' },
      'model-id': { type: 'string' },
      quiet: { type: 'boolean' },
      'no-batch-decode': { type: 'boolean' },
      'prefill-chunk': { type: 'string' },
    },
  });
  const number = (name: keyof typeof values, min: number, integer = true): number | undefined => {
    const text = values[name];
    if (text === undefined) return undefined;
    const value = Number(text);
    if (
      typeof text !== 'string' ||
      text.trim() === '' ||
      !Number.isFinite(value) ||
      value < min ||
      (integer && !Number.isSafeInteger(value))
    ) {
      throw new ServeUsageError(
        `--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(text)}`,
      );
    }
    return value;
  };
  const model = resolve(values.model ?? defaultModelDirectory());
  const bundledToy = values.model === undefined;
  const toyPattern = join(model, 'pattern');
  if (values.pattern !== undefined && values.policy !== undefined)
    throw new ServeUsageError('give --pattern or --policy, not both');
  if (values.policy !== undefined && values.policy !== 'full' && values.policy !== 'streaming') {
    throw new ServeUsageError(`--policy must be full or streaming, got ${values.policy}`);
  }
  const sparsity = number('sparsity', 0, false);
  const threshold = number('threshold', 0, false);
  if (sparsity !== undefined && sparsity > 1)
    throw new ServeUsageError(`--sparsity must be in [0, 1], got ${sparsity}`);
  const pattern =
    values.pattern ??
    (values.policy === undefined && bundledToy && existsSync(join(toyPattern, 'full_attention_heads.tsv'))
      ? toyPattern
      : undefined);
  const sink = number('sink', 0);
  const recent = number('recent', 0);
  const load: LoadLanguageModelOptions = {
    ...(pattern === undefined ? {} : { pattern }),
    ...(threshold !== undefined
      ? { threshold }
      : pattern !== undefined
        ? { sparsity: sparsity ?? (values.pattern === undefined ? SERVE_DEFAULTS.toySparsity : 0.5) }
        : {}),
    ...(values.policy === undefined ? {} : { policy: values.policy as 'full' | 'streaming' }),
    ...(sink === undefined ? {} : { sinkSize: sink }),
    ...(recent === undefined ? {} : { recentSize: recent }),
    ...(values.backend === undefined ? {} : { backend: values.backend }),
    maxSequences: number('max-sequences', 1) ?? SERVE_DEFAULTS.maxSequences,
    ...(values['no-batch-decode'] === true ? { batchDecode: false } : {}),
    ...(values['max-tokens'] === undefined ? {} : { maxTokens: number('max-tokens', 2) }),
  };
  const port = number('port', 0) ?? SERVE_DEFAULTS.port;
  if (port > 65535) throw new ServeUsageError(`--port must be at most 65535, got ${port}`);
  const graceMs = number('grace', 0) ?? SERVE_DEFAULTS.graceMs;
  const apiKeys = [
    ...(values['api-key'] ?? []),
    ...(process.env.DUO_API_KEY ? [process.env.DUO_API_KEY] : []),
  ];
  const requestTimeoutMs = number('timeout', 1);
  const maxQueue = number('max-queue', 0);
  const kvBudgetBytes = number('kv-budget', 0);
  const prefillChunkSize = number('prefill-chunk', 1);

  const languageModel = await loadLanguageModel(model, load);
  let server: DuoServer;
  try {
    server = await createServer({
      model: languageModel,
      ...(values['model-id'] === undefined ? {} : { modelId: values['model-id'] }),
      apiKeys,
      ...(maxQueue === undefined ? {} : { maxQueue }),
      ...(kvBudgetBytes === undefined ? {} : { kvBudgetBytes }),
      ...(prefillChunkSize === undefined ? {} : { prefillChunkSize }),
      ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      logger: values.quiet !== true,
    });
  } catch (error) {
    await languageModel.dispose();
    throw error;
  }
  const url = await server.listen(port, values.host ?? SERVE_DEFAULTS.host).catch(async (error: unknown) => {
    await languageModel.dispose();
    throw error;
  });
  log(
    `duo server: ${server.modelId} (${languageModel.policyDescription}) on the ${languageModel.backendName} backend, ` +
      `${languageModel.maxSequences} sequences of ${languageModel.maxTokens} tokens, listening on ${url}` +
      (apiKeys.length > 0 ? ' (API key required)' : ''),
  );
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      try {
        await server.close(graceMs);
      } finally {
        await languageModel.dispose();
      }
    })();
    return stopped;
  };
  if (options.handleSignals !== false) {
    const onSignal = (signal: NodeJS.Signals) => {
      log(`duo server: ${signal}: finishing running requests (up to ${graceMs} ms), then stopping`);
      void stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log(`duo server: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return { server, url, stop };
}
