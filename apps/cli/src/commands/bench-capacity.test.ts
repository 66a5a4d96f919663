import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturesDirectory } from '@duo-attn/core/testing';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

// The tiny fixture model (3 layers, 2 KV heads of 16 dims, 0.6 MB of fp32 weights) in a 2 MiB budget.
const model = join(fixturesDirectory(), 'llama-gqa');
const small = ['--model', model, '--memory', String(2 / 1024), '--sink', '8', '--recent', '32'];

describe('duo bench capacity', () => {
  it('verifies the planned figure on the reference backend and lists what it cannot run', async () => {
    const run = await runCli(
      'bench',
      'capacity',
      ...small,
      '--backend',
      'reference',
      '--kv-dtype',
      'fp32,int4',
      '--kv-dtype',
      'bf16',
      '--policy',
      'full,duo:0.5',
      '--at',
      '64,1000000',
      '--steps',
      '1',
      '--warmup',
      '0',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.backend).toBe('reference');
    expect(report.memoryBytes).toBe(2 * 2 ** 20);
    expect(report.memorySource).toBe('--memory');
    // Default headroom: 1.5% of the budget.
    expect(report.headroomBytes).toBe(Math.floor(2 * 2 ** 20 * 0.015));
    expect(
      report.rows.map(
        (r: { kvDtype: string; policy: string; status: string }) => `${r.kvDtype} ${r.policy} ${r.status}`,
      ),
    ).toEqual([
      'fp32 full measured',
      'fp32 duo:0.5 measured',
      'int4 full measured',
      'int4 duo:0.5 measured',
      'bf16 full unsupported',
      'bf16 duo:0.5 unsupported',
    ]);
    for (const row of report.rows.slice(0, 4)) {
      // The reference backend holds exactly what the planner counts: the planned figure is verified.
      expect(row.verifiedTokens).toBe(row.plannedTokens);
      expect(row.plannedTokens).toBeGreaterThan(1000);
      expect(row.measured.weightBytes).toBe(row.plan.weightBytes);
      expect(row.decode.map((d: { context: number; fits: boolean }) => [d.context, d.fits])).toEqual([
        [64, true],
        [row.verifiedTokens - 1, true],
        [1000000, false],
      ]);
    }
    // 3 layers x 2 KV heads x (K + V): 64 bytes per head in fp32, 8 code bytes + fp16 scale and zero in int4.
    expect(report.rows[0].plan.kvBytesPerToken).toBe(3 * 2 * 2 * 64);
    expect(report.rows[2].plan.kvBytesPerToken).toBe(3 * 2 * 2 * 12);
    expect(report.rows[4].reason).toBe('the reference backend keeps fp32/int4 KV caches, not bf16');
    expect(run.stderr).toMatch(/fit and decode/);
  });

  it('steps down on the cpu backend (it holds more than the planner counts) and prints a table', async () => {
    const out = await mkdtemp(join(tmpdir(), 'duo-cli-capacity-'));
    try {
      const run = await runCli(
        'bench',
        'capacity',
        ...small,
        '--backend',
        'cpu',
        '--threads',
        '1',
        '--kv-dtype',
        'fp32,int4',
        '--policy',
        'duo:0.5',
        '--weights',
        'float,w8a8',
        '--steps',
        '1',
        '--warmup',
        '0',
        '--resolution',
        '1',
        '--out',
        join(out, 'capacity'),
      );
      expect(run.code, run.stderr).toBe(0);
      const lines = run.stdout.split('\n');
      expect(lines[0]).toMatch(/ on the cpu backend \(/);
      expect(lines[1]).toMatch(/^budget 2\.00 MiB \(--memory\), headroom 30\.72 KiB$/);
      expect(lines[2]).toMatch(/^weights\s+KV\s+policy\s+retrieval heads\s+planned tokens\s+verified tokens/);
      expect(lines[3]).toMatch(/^float\s+fp32\s+duo:0\.5\s+3\/6\s+\d+\s+\d+/);
      expect(lines[4]).toMatch(/^w8a8\s+fp32\s+duo:0\.5\s+3\/6/);
      expect(run.stdout).toMatch(
        /not run on the cpu backend:\n {2}float weights, int4 KV, duo:0\.5: the cpu backend keeps fp32 KV caches, not int4\n/,
      );
      expect(run.stdout).toMatch(/onnxruntime matmul-only floor .*: \d+\.\d+ ms\/token/);
      const report = JSON.parse(await readFile(join(out, 'capacity', 'results.json'), 'utf8'));
      const [float, , w8a8] = report.rows;
      // The cpu backend double-buffers the streaming caches and keeps a padding row per cache, which
      // the planner does not count: the plan fails and the search lands just below it, exactly (at
      // resolution 1) where one more token no longer fits.
      for (const row of [float, w8a8]) {
        expect(row.status).toBe('measured');
        expect(row.verifiedTokens).toBeLessThan(row.plannedTokens);
        expect(row.probes[0]).toMatchObject({ tokens: row.plannedTokens, fits: false });
        expect(row.measured.weightBytes + row.measured.kvBytesAllocated).toBeLessThanOrEqual(
          row.plan.usableBytes,
        );
        const failures = row.probes
          .filter((p: { fits: boolean }) => !p.fits)
          .map((p: { tokens: number }) => p.tokens);
        expect(Math.min(...failures)).toBe(row.verifiedTokens + 1);
      }
      expect(report.matmulFloor.medianMs).toBeGreaterThan(0);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('rejects bad values before any work, naming the option', async () => {
    const bad = async (...argv: string[]) => {
      const run = await runCli('bench', 'capacity', ...argv);
      expect(run.code).toBe(2);
      return run.stderr;
    };
    expect(await bad('--model', model, '--backend', 'cpu')).toMatch(
      /--memory GiB is required on the cpu backend/,
    );
    expect(await bad(...small, '--weights', 'int3')).toMatch(
      /--weights must be one of float, w8a8, got "int3"/,
    );
    expect(await bad(...small, '--kv-dtype', 'fp32,int5')).toMatch(/--kv-dtype must be one of .*got "int5"/);
    expect(await bad(...small, '--policy', 'full,full')).toMatch(/--policy names "full" twice/);
    expect(await bad(...small, '--policy', 'duo:2')).toMatch(/duo:R/);
    expect(await bad(...small, '--policy', 'full,')).toMatch(/--policy has an empty element/);
    expect(await bad(...small, '--at', '0')).toMatch(/--at: contexts must be at least 1 token/);
    expect(await bad('--model', model, '--memory', '0')).toMatch(/--memory must be above 0 GiB/);
    expect(await bad(...small, '--headroom', '1')).toMatch(/--headroom .* must be below the budget/);
    expect(await bad(...small, '--steps', '0')).toMatch(/--steps must be >= 1/);
    expect(await bad('--memory', '1')).toMatch(/exactly one of --model or --shape/);
    expect(await bad('--shape', 'gpt-5', '--memory', '1')).toMatch(/unknown --shape "gpt-5"/);
  });

  it.skipIf(existsSync('/dev/nvidiactl'))('--backend cuda without a GPU fails with the reason', async () => {
    const run = await runCli('bench', 'capacity', '--backend', 'cuda', '--shape', 'llama3-8b');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/backend "cuda" is unavailable: .*(addon|driver|GPU|CUDA)/);
  });
});
