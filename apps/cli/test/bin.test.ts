// The built binary, run as a user runs it (needs `build` first; turbo's test task depends on it).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const bin = resolve(import.meta.dirname, '../dist/duo.js');
const run = promisify(execFile);

describe.skipIf(!existsSync(bin))('duo binary', () => {
  it('runs the example end to end', async () => {
    const out = await mkdtemp(join(tmpdir(), 'duo-bin-'));
    try {
      const { stdout } = await run(process.execPath, [bin, 'example', '--out', out]);
      expect(stdout).toContain('KV heads are retrieval heads');
      expect((await readdir(out)).sort()).toEqual([
        'gates.png',
        'gates.svg',
        'mask-50',
        'mask-50.png',
        'pattern',
      ]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('--version prints the CLI package version', async () => {
    const { version } = JSON.parse(await readFile(resolve(import.meta.dirname, '../package.json'), 'utf8'));
    for (const flag of ['--version', '-v', 'version']) {
      const { stdout } = await run(process.execPath, [bin, flag]);
      expect(stdout).toBe(`${version}\n`);
    }
  });

  it('exits non-zero with the error on stderr', async () => {
    const error = await run(process.execPath, [bin, 'pattern', 'show', '/nonexistent']).catch((e) => e);
    expect(error.code).toBe(1);
    expect(error.stderr).toMatch(/file not found/);
  });
});
