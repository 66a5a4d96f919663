// The human-readable form of a `duo bench` report: one table row per policy and context (or chunk
// size), with the figures a reader compares; `--json` prints the full report instead.
import { formatBytes, formatTable } from '../cli-io.js';

/** The parts of a bench report the table shows. */
export interface BenchTableReport {
  readonly backend: string;
  readonly model: string;
  readonly date: string;
  readonly machine: { readonly cpu: string; readonly cores: number };
  readonly matmulFloor?: { readonly medianMs: number };
  readonly results: readonly {
    readonly policy: string;
    readonly retrievalKvHeads?: number;
    readonly streamingKvHeads?: number;
    readonly prefill?: readonly { readonly chunkSize: number; readonly tokensPerSecond: number }[];
    readonly decode?: readonly {
      readonly context: number;
      /** Sequences decoded together per step (absent or 1: one). */
      readonly batch?: number;
      readonly msPerToken?: number;
      readonly tokensPerSecond?: number;
      readonly kvBytesUsed: number;
      readonly floorMs?: number;
      readonly kvMeasuredOverPredicted?: number | null;
    }[];
  }[];
}

/** The report of `duo bench <mode>` as text: a heading line and a table. */
export function formatBenchTable(mode: 'decode' | 'prefill' | 'memory', report: BenchTableReport): string {
  const heading = `${report.model} on the ${report.backend} backend (${report.machine.cpu}, ${report.machine.cores} cores), ${report.date}\n`;
  const heads = (r: BenchTableReport['results'][number]): string =>
    r.retrievalKvHeads === undefined
      ? ''
      : `${r.retrievalKvHeads}/${r.retrievalKvHeads + (r.streamingKvHeads ?? 0)}`;
  if (mode === 'prefill') {
    const rows = report.results.flatMap((r) =>
      (r.prefill ?? []).map((m) => [r.policy, String(m.chunkSize), m.tokensPerSecond.toFixed(0)]),
    );
    return heading + formatTable([['policy', 'chunk', 'tokens/s'], ...rows]);
  }
  const withFloor = report.results.some((r) => r.decode?.some((m) => m.floorMs !== undefined));
  const withBatch = report.results.some((r) => r.decode?.some((m) => (m.batch ?? 1) > 1));
  const header =
    mode === 'memory'
      ? ['policy', 'retrieval heads', 'context', 'KV cache', 'measured/predicted']
      : [
          'policy',
          'retrieval heads',
          'context',
          ...(withBatch ? ['batch', 'ms/step'] : ['ms/token']),
          'tokens/s',
          'KV cache',
          ...(withFloor ? ['floor ms', 'x floor'] : []),
        ];
  const rows = report.results.flatMap((r) =>
    (r.decode ?? []).map((m) => {
      const ratio =
        m.kvMeasuredOverPredicted === undefined || m.kvMeasuredOverPredicted === null
          ? '-'
          : m.kvMeasuredOverPredicted.toFixed(3);
      if (mode === 'memory')
        return [r.policy, heads(r), String(m.context), formatBytes(m.kvBytesUsed), ratio];
      return [
        r.policy,
        heads(r),
        String(m.context),
        ...(withBatch ? [String(m.batch ?? 1)] : []),
        m.msPerToken?.toFixed(2) ?? '-',
        m.tokensPerSecond?.toFixed(1) ?? '-',
        formatBytes(m.kvBytesUsed),
        ...(withFloor
          ? [
              m.floorMs?.toFixed(2) ?? '-',
              m.floorMs === undefined || m.msPerToken === undefined
                ? '-'
                : (m.msPerToken / m.floorMs).toFixed(2),
            ]
          : []),
      ];
    }),
  );
  const floor =
    report.matmulFloor === undefined
      ? ''
      : `onnxruntime matmul-only floor: ${report.matmulFloor.medianMs.toFixed(2)} ms/token\n`;
  return heading + formatTable([header, ...rows]) + floor;
}
