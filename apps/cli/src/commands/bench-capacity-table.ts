// The human-readable form of a `duo bench capacity` report: one row per combination with planned and
// verified tokens and decode at the largest context, then decode at the --at contexts, then the
// combinations the backend cannot run with its reason, and those that failed with their error.
// `--json` prints the full report instead.
import type { CapacityDecode, CapacityRow } from '@duo-attn/eval';
import { formatBytes, formatTable } from '../cli-io.js';

/** The parts of a capacity report the table shows. */
export interface CapacityTableReport {
  readonly backend: string;
  readonly model: string;
  readonly date: string;
  readonly machine: { readonly cpu: string; readonly cores: number; readonly device?: string };
  readonly memoryBytes: number;
  readonly memorySource: string;
  readonly headroomBytes: number;
  readonly copyBandwidth?: { readonly bytesPerSecond: number };
  readonly matmulFloor?: { readonly medianMs: number };
  readonly rows: readonly CapacityRow[];
}

/** The report of `duo bench capacity` as text. */
export function formatCapacityTable(report: CapacityTableReport): string {
  const where = report.machine.device ?? `${report.machine.cpu}, ${report.machine.cores} cores`;
  let text = `${report.model} on the ${report.backend} backend (${where}), ${report.date}\n`;
  text += `budget ${formatBytes(report.memoryBytes)} (${report.memorySource}), headroom ${formatBytes(report.headroomBytes)}`;
  if (report.copyBandwidth !== undefined) {
    text += `, copy bandwidth ${(report.copyBandwidth.bytesPerSecond / 1e12).toFixed(3)} TB/s`;
  }
  text += '\n';
  const floorColumns = (d: CapacityDecode | undefined): string[] => [
    d?.floorMs?.toFixed(2) ?? '-',
    d?.ratioToFloor?.toFixed(2) ?? '-',
  ];
  const shown = report.rows.filter((r) => r.status !== 'unsupported' && r.status !== 'failed');
  if (shown.length > 0) {
    const header = [
      'weights',
      'KV',
      'policy',
      'retrieval heads',
      'planned tokens',
      'verified tokens',
      'weight bytes',
      'KV at largest',
      'ms/token at largest',
      'floor ms',
      'x floor',
    ];
    const lines = shown.map((r) => {
      const largest = r.decode?.find((d) => d.largest);
      const heads =
        r.plan === undefined
          ? '-'
          : `${r.plan.retrievalKvHeads}/${r.plan.retrievalKvHeads + r.plan.streamingKvHeads}`;
      const planned = r.plannedTokens === null ? 'unbounded' : String(r.plannedTokens ?? '-');
      const verified = r.status === 'unbounded' ? 'unbounded' : String(r.verifiedTokens ?? '-');
      return [
        r.weights,
        r.kvDtype,
        r.policy,
        heads,
        planned,
        verified,
        r.measured === undefined ? '-' : formatBytes(r.measured.weightBytes),
        largest?.kvBytesUsed === undefined ? '-' : formatBytes(largest.kvBytesUsed),
        largest?.msPerToken === undefined ? '-' : `${largest.msPerToken.toFixed(2)} @ ${largest.context}`,
        ...floorColumns(largest),
      ];
    });
    text += formatTable([header, ...lines]);
  }
  const atLines = shown.flatMap((r) =>
    (r.decode ?? [])
      .filter((d) => !d.largest)
      .map((d) => [
        r.weights,
        r.kvDtype,
        r.policy,
        String(d.context),
        d.fits ? (d.msPerToken?.toFixed(2) ?? '-') : 'does not fit',
        d.kvBytesUsed === undefined ? '-' : formatBytes(d.kvBytesUsed),
        ...floorColumns(d),
      ]),
  );
  if (atLines.length > 0) {
    text += `\ndecode at the --at contexts:\n`;
    text += formatTable([
      ['weights', 'KV', 'policy', 'context', 'ms/token', 'KV bytes', 'floor ms', 'x floor'],
      ...atLines,
    ]);
  }
  const unsupported = report.rows.filter((r) => r.status === 'unsupported');
  if (unsupported.length > 0) {
    text += `\nnot run on the ${report.backend} backend:\n`;
    for (const r of unsupported)
      text += `  ${r.weights} weights, ${r.kvDtype} KV, ${r.policy}: ${r.reason}\n`;
  }
  const failed = report.rows.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    text += `\nfailed:\n`;
    for (const r of failed) text += `  ${r.weights} weights, ${r.kvDtype} KV, ${r.policy}: ${r.reason}\n`;
  }
  if (report.matmulFloor !== undefined) {
    text += `onnxruntime matmul-only floor (float weights, no attention or KV reads): ${report.matmulFloor.medianMs.toFixed(2)} ms/token\n`;
  }
  return text;
}
