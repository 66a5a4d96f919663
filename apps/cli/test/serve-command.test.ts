// `duo serve` as a user runs it: the built binary serves the bundled toy model on a free port,
// answers a completion, and stops cleanly (exit 0) on Ctrl-C.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = resolve(import.meta.dirname, '../dist/duo.js');

describe.skipIf(!existsSync(bin))('duo serve (built binary)', () => {
  it('serves the toy model with its trained pattern, then stops on SIGINT', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--quiet', '--max-sequences', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        const check = () => {
          const match = /listening on (http:\/\/\S+)/.exec(stderr);
          if (match) resolveUrl(match[1]!);
        };
        child.stderr.on('data', check);
        void exited.then((code) => reject(new Error(`duo serve exited with ${code}: ${stderr}`)));
      });
      expect(stderr).toContain('DuoAttention: 6 of 24 KV heads retrieval (sparsity 0.75)');
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          prompt:
            'The secret code of the red door is 1234567. The river runs past the mill.\n\n' +
            'Question: What is the secret code of the red door?\nAnswer: The secret code of the red door is',
          max_tokens: 16,
          temperature: 0,
        }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { choices: { text: string; finish_reason: string }[] };
      expect(body.choices[0]).toMatchObject({ text: ' 1234567.', finish_reason: 'stop' });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toContain('duo serve: stopping');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad option with the usage and exit code 2', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--max-sequences', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    const code = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
    expect(code).toBe(2);
    expect(stderr).toContain('--max-sequences must be an integer >= 1, got 0');
    expect(stderr).toContain('Usage: duo serve');
  });
});
