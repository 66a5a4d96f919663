import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';

describe('duo bench', () => {
  it('measures decode per policy on a random shape, with KV bytes matching the planner', async () => {
    const run = await runCli(
      'bench',
      'decode',
      '--shape',
      'toy',
      '--contexts',
      '512',
      '--steps',
      '2',
      '--threads',
      '1',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.backend).toBe('cpu');
    expect(json.machine.cores).toBeGreaterThan(0);
    expect(json.matmulFloor.medianMs).toBeGreaterThan(0);
    expect(json.results.map((r: { policy: string }) => r.policy)).toEqual(['full', 'duo:0.5', 'streaming']);
    for (const result of json.results) {
      const [measurement] = result.decode;
      expect(measurement.context).toBe(512);
      expect(measurement.msPerToken).toBeGreaterThan(0);
      expect(measurement.kvMeasuredOverPredicted).toBeCloseTo(1, 6);
    }
    // 6 layers x 4 KV heads x 32 dims x (K + V) x 4 bytes per token under full attention.
    expect(json.results[0].decode[0].kvBytesUsed).toBe(512 * 6 * 4 * 32 * 2 * 4);
    expect(json.results[1].retrievalKvHeads).toBe(12);
  });

  it('decodes several sequences per step with --batch, against the floor of a pass of that many rows', async () => {
    const run = await runCli(
      'bench',
      'decode',
      '--shape',
      'toy',
      '--contexts',
      '64',
      '--steps',
      '2',
      '--threads',
      '1',
      '--policy',
      'full',
      '--batch',
      '1,4',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.matmulFloors.map((floor: { rows: number }) => floor.rows)).toEqual([1, 4]);
    const [one, four] = json.results[0].decode;
    expect([one.batch, four.batch]).toEqual([1, 4]);
    expect(four.tokensPerSecond).toBeCloseTo((4 * 1000) / four.msPerToken, 6);
    expect(four.floorMs).toBe(json.matmulFloors[1].medianMs);
    // Four sequences of 64 tokens, each as the planner predicts for one.
    expect(four.kvBytesUsed).toBe(4 * one.kvBytesUsed);
    expect(four.kvMeasuredOverPredicted).toBeCloseTo(1, 6);
    const table = await runCli(
      'bench',
      'decode',
      '--shape',
      'toy',
      '--contexts',
      '64',
      '--steps',
      '1',
      '--policy',
      'full',
      '--batch',
      '2',
    );
    expect(table.stdout).toMatch(/batch\s+ms\/step/);
    expect((await runCli('bench', 'prefill', '--shape', 'toy', '--batch', '2')).stderr).toMatch(
      /decode only/,
    );
  });

  it('measures prefill throughput per chunk size, and rejects unknown shapes and policies', async () => {
    const run = await runCli(
      'bench',
      'prefill',
      '--shape',
      'toy',
      '--prompt-length',
      '64',
      '--chunks',
      '16,64',
      '--policy',
      'full',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const [result] = JSON.parse(run.stdout).results;
    expect(result.prefill.map((m: { chunkSize: number }) => m.chunkSize)).toEqual([16, 64]);
    expect((await runCli('bench', 'decode', '--shape', 'gpt-5')).stderr).toMatch(/unknown --shape "gpt-5"/);
    expect((await runCli('bench', 'decode', '--shape', 'toy', '--policy', 'duo:2')).stderr).toMatch(/duo:R/);
    expect((await runCli('bench', 'nap', '--shape', 'toy')).code).toBe(2);
  });

  it('prints a table without --json', async () => {
    const run = await runCli('bench', 'memory', '--shape', 'toy', '--contexts', '256,512', '--threads', '1');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^random toy on the cpu backend \(/);
    expect(lines[1]).toMatch(/^policy\s+retrieval heads\s+context\s+KV cache\s+measured\/predicted$/);
    // 3 policies x 2 contexts; full attention at 256 tokens: 256 x 6 x 4 x 32 x 2 x 4 bytes = 1.50 MiB.
    expect(lines.slice(2)).toHaveLength(6);
    expect(lines[2]).toMatch(/^full\s+24\/24\s+256\s+1\.50 MiB\s+1\.000$/);
    expect(() => JSON.parse(run.stdout)).toThrow();
  });

  // Without a GPU (every CI machine) the cuda backend is registered but unavailable: asking for it
  // names why, before any model is built.
  it.skipIf(existsSync('/dev/nvidiactl'))('--backend cuda without a GPU fails with the reason', async () => {
    const run = await runCli(
      'bench',
      'decode',
      '--backend',
      'cuda',
      '--shape',
      'llama3-8b',
      '--contexts',
      '8192',
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/backend "cuda" is unavailable: .*(addon|driver|GPU|CUDA)/);
  });
});
