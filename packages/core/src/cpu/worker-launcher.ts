// Starts the cpu backend's worker process from wherever core runs. From the build, the worker is the
// tsup entry dist/cpu-worker.js next to the bundle. From source (vitest, a TS runner), Node cannot
// run cpu-worker.ts itself, so its module graph is transpiled once per process with the workspace's
// `typescript` and served to the child by a module loader registered inside it.
//
// The child gets a short command line of its own (never the caller's arguments): onnxruntime 1.30
// runs a recursive std::regex over the process's command line when it creates a session and
// overflows its stack on long ones (a 20 KB --prompt crashed the whole CLI with SIGSEGV).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CpuWorkerError } from './cpu-errors.js';
import type { CpuWorkerBoot } from './cpu-protocol.js';

/** Minimal view of the `typescript` module used to transpile the worker in source mode. */
interface TypeScriptModule {
  transpileModule(
    source: string,
    options: { fileName: string; compilerOptions: Record<string, unknown> },
  ): { outputText: string };
  readonly ModuleKind: { readonly ESNext: number };
  readonly ScriptTarget: { readonly ES2022: number };
}

/** Module loader run inside a source-mode worker: serves the pre-transpiled sources, maps `.js` to `.ts`. */
const SOURCE_LOADER = `
let sources = {};
export function initialize(data) { sources = data.sources; }
export async function resolve(specifier, context, next) {
  if (context.parentURL in sources && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const url = new URL(specifier, context.parentURL).href;
    const ts = url.endsWith('.js') ? url.slice(0, -3) + '.ts' : url;
    if (ts in sources) return { url: ts, shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url in sources) return { format: 'module', source: sources[url], shortCircuit: true };
  return next(url, context);
}`;

/** Source mode: waits for the boot message, registers the loader, then imports the worker entry. */
const SOURCE_BOOT = `
const { register } = require('node:module');
process.once('message', (boot) => {
  register(boot.loader, { data: { sources: boot.sources } });
  import(boot.entry).catch((error) => setImmediate(() => { throw error; }));
});`;

let sourceBundle: Promise<Record<string, string>> | undefined;

/**
 * Spawns the worker process with an IPC channel ("advanced" serialization, so typed arrays travel
 * as such). Its stdout goes to the caller's stderr, so nothing it prints can mix with a command's
 * results. Throws {@link CpuWorkerError} when neither the built worker nor its source can be
 * found, or the source cannot be transpiled.
 */
export async function launchCpuWorker(): Promise<ChildProcess> {
  const options = {
    stdio: ['ignore', 2, 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc' | number)[],
    serialization: 'advanced' as const,
    // No inherited node flags (a test runner's loaders) and no caller arguments.
    execArgv: [] as string[],
  };
  const built = new URL('./cpu-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return spawn(process.execPath, [fileURLToPath(built)], options);
  const source = new URL('./cpu-worker.ts', import.meta.url);
  if (!existsSync(fileURLToPath(source))) {
    throw new CpuWorkerError(
      `the cpu worker script is missing: neither ${fileURLToPath(built)} nor ${fileURLToPath(source)} exists`,
    );
  }
  sourceBundle ??= transpileGraph(source.href);
  let sources: Record<string, string>;
  try {
    sources = await sourceBundle;
  } catch (error) {
    sourceBundle = undefined;
    throw error;
  }
  const child = spawn(process.execPath, ['--input-type=commonjs', '--eval', SOURCE_BOOT], options);
  const boot: CpuWorkerBoot = {
    type: 'boot',
    loader: `data:text/javascript,${encodeURIComponent(SOURCE_LOADER)}`,
    sources,
    entry: source.href,
  };
  child.send(boot);
  return child;
}

/** Transpiles `entry` and every relative module it imports (at runtime) into `{ fileUrl: js }`. */
async function transpileGraph(entry: string): Promise<Record<string, string>> {
  let ts: TypeScriptModule;
  try {
    // A variable specifier keeps bundlers from pulling typescript into the build.
    const name = 'typescript';
    const loaded = (await import(name)) as { default?: TypeScriptModule } & TypeScriptModule;
    ts = loaded.default ?? loaded;
  } catch (error) {
    throw new CpuWorkerError(
      'running the cpu backend from source needs the `typescript` package to transpile its worker (or build core with tsup first)',
      { cause: error },
    );
  }
  const sources: Record<string, string> = {};
  const pending = [entry];
  const importPattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  while (pending.length > 0) {
    const url = pending.pop()!;
    if (url in sources) continue;
    const fileName = fileURLToPath(url);
    const text = await readFile(fileName, 'utf8');
    const { outputText } = ts.transpileModule(text, {
      fileName,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        inlineSourceMap: true,
        inlineSources: true,
      },
    });
    sources[url] = outputText;
    for (const match of outputText.matchAll(importPattern)) {
      const target = new URL(match[1]!, url).href;
      const candidate = target.endsWith('.js') ? `${target.slice(0, -3)}.ts` : target;
      if (!(candidate in sources) && existsSync(fileURLToPath(candidate))) pending.push(candidate);
    }
  }
  return sources;
}
