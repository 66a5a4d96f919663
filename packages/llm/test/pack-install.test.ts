// The published packages as a user gets them: `pnpm pack` each one, `npm install` the tarballs into
// an empty project with plain npm (the registry supplies everything else), then run the README's
// example and a generation through the entry point on the bundled toy model. Slow (an npm install
// of onnxruntime-node); it skips, saying so, only where npm itself is missing.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWERS, HAYSTACK, question, TOY } from './toy-model.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const PACKAGES = ['core', 'patterns', 'quant', 'llm', 'kernels-cuda'] as const;
const EXAMPLE = join(here, '..', 'examples', 'quick-start.mjs');

const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8' });
const hasNpm = npmVersion.status === 0;
if (!hasNpm) console.warn('pack-install tests SKIPPED: npm is not on PATH');

/** Environment of every install: no download beyond npm packages, no CUDA build in tests. */
const INSTALL_ENV = {
  ...process.env,
  ONNXRUNTIME_NODE_INSTALL: 'skip',
  DUO_KERNELS_CUDA_SKIP_BUILD: '1',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

/**
 * Runs a command to completion without blocking the event loop (a blocked test worker misses
 * vitest's RPC deadline on a loaded machine); rejects with its output when it fails.
 */
function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, env: INSTALL_ENV, encoding: 'utf8', maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `${command} ${args.join(' ')} (in ${cwd}) failed (${error.message}):\n${stdout}\n${stderr}`,
            ),
          );
        } else {
          resolve(`${stdout}\n${stderr}`);
        }
      },
    );
  });
}

describe.skipIf(!hasNpm)('the packed packages installed with plain npm', () => {
  let root: string;
  const tarballs: Record<string, string> = {};

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'duo-pack-'));
    const packed = join(root, 'tarballs');
    await mkdir(packed);
    for (const name of PACKAGES) {
      const dir = join(repo, 'packages', name);
      if (!existsSync(join(dir, 'dist', 'index.js'))) {
        throw new Error(
          `packages/${name}/dist is missing: build first (turbo run build --filter=@duo-attn/llm...)`,
        );
      }
      const before = new Set(await readdir(packed));
      // pnpm pack rewrites workspace:^ ranges into the versions npm can resolve.
      await run('npx', ['-y', 'pnpm@10.34.9', 'pack', '--pack-destination', packed], dir);
      const added = (await readdir(packed)).filter((file) => !before.has(file));
      expect(added, `pnpm pack of ${name}`).toHaveLength(1);
      tarballs[name] = join(packed, added[0]!);
    }
  });
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  async function project(name: string): Promise<string> {
    const dir = join(root, name);
    await mkdir(dir);
    // npm >= 11.19 runs a dependency's install script only when allowScripts names it (older npm
    // runs it anyway), as the kernels-cuda README tells users to do.
    const manifest = {
      name,
      private: true,
      type: 'module',
      allowScripts: { '@duo-attn/kernels-cuda': true },
    };
    await writeFile(join(dir, 'package.json'), JSON.stringify(manifest));
    return dir;
  }

  it('@duo-attn/llm with the cuda package: the README example and a generation on the toy model', async () => {
    const dir = await project('app');
    // --foreground-scripts shows the install scripts' output.
    const log = await run(
      'npm',
      ['install', '--foreground-scripts', ...PACKAGES.map((name) => tarballs[name]!)],
      dir,
    );
    // The cuda package's install script ran and said why it built nothing.
    expect(log).toMatch(/\[@duo-attn\/kernels-cuda\] native addon not built: DUO_KERNELS_CUDA_SKIP_BUILD=1/);
    const status = join(dir, 'node_modules/@duo-attn/kernels-cuda/build/native-build-status.json');
    expect(JSON.parse(await readFile(status, 'utf8'))).toMatchObject({ built: false });
    const manifest = JSON.parse(await readFile(join(dir, 'node_modules/@duo-attn/llm/package.json'), 'utf8'));
    expect(manifest.dependencies['@duo-attn/core']).not.toMatch(/workspace/);

    await copyFile(EXAMPLE, join(dir, 'quick-start.mjs'));
    const example = await run(process.execPath, ['quick-start.mjs', TOY], dir);
    expect(example).toContain(`${ANSWERS['silver lantern']}\n(10 tokens, stop-token on cpu)`);

    await writeFile(
      join(dir, 'chat.mjs'),
      `import { loadLanguageModel } from '@duo-attn/llm';
import { cudaAvailability } from '@duo-attn/kernels-cuda';
const [dir, prompt] = process.argv.slice(2);
const model = await loadLanguageModel(dir);
const result = await model.generate(prompt);
let chatError;
try { model.createChatSession(); } catch (error) { chatError = error.reason; }
await model.dispose();
const cuda = await cudaAvailability();
console.log(JSON.stringify({ backend: model.backendName, text: result.text, finishReason: result.finishReason, chatError, cuda }));
`,
    );
    const output = await run(process.execPath, ['chat.mjs', TOY, HAYSTACK + question('frozen harbor')], dir);
    const report = JSON.parse(
      output
        .trim()
        .split('\n')
        .find((line) => line.startsWith('{'))!,
    );
    expect(report).toMatchObject({
      backend: 'cpu',
      text: ANSWERS['frozen harbor'],
      finishReason: 'stop-token',
      chatError: 'no-chat-template',
    });
    expect(report.cuda.available).toBe(false);
    expect(JSON.stringify(report.cuda)).toMatch(/DUO_KERNELS_CUDA_SKIP_BUILD/);
  });

  it('@duo-attn/core alone: imports, names the missing onnxruntime-node, runs the reference backend', async () => {
    const dir = await project('core-only');
    await run('npm', ['install', tarballs.core!], dir);
    expect(existsSync(join(dir, 'node_modules', 'onnxruntime-node'))).toBe(false);
    await writeFile(
      join(dir, 'core.mjs'),
      `import { collectGeneration, generate, loadModel, loadTokenizer, resolveBackend } from '@duo-attn/core';
const dir = process.argv[2];
let cpuError;
try { await resolveBackend(); } catch (error) { cpuError = error.message; }
const model = await loadModel(dir);
const tokenizer = await loadTokenizer(dir);
const executor = await (await resolveBackend('reference')).load(model, { kind: 'full', numLayers: 6, numKvHeads: 4,
  layers: Array.from({ length: 6 }, () => ({ retrievalKvHeads: [0, 1, 2, 3], streamingKvHeads: [] })),
  sinkSize: 0, recentSize: 0, cacheDtype: 'fp32' }, { maxTokens: 64 });
const result = await collectGeneration(generate(executor, tokenizer.encode('The river'), { greedy: true, maxNewTokens: 3, detokenizer: tokenizer }));
await executor.dispose();
console.log(JSON.stringify({ cpuError, tokens: result.tokens.length }));
`,
    );
    const output = await run(process.execPath, ['core.mjs', TOY], dir);
    const report = JSON.parse(
      output
        .trim()
        .split('\n')
        .find((line) => line.startsWith('{'))!,
    );
    expect(report.tokens).toBe(3);
    expect(report.cpuError).toMatch(/onnxruntime-node is not installed/);
  });
});

describe('the README example', () => {
  it('is examples/quick-start.mjs verbatim', async () => {
    const example = await readFile(EXAMPLE, 'utf8');
    const readme = await readFile(join(here, '..', 'README.md'), 'utf8');
    expect(readme).toContain(`\`\`\`js\n${example}\`\`\``);
  });
});
