// Where a command writes: stdout for results (JSON only with --json), stderr for messages and
// progress. Injected so commands run in-process in tests.

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stderr is a terminal (progress bars redraw in place there; elsewhere they print lines). */
  readonly stderrIsTty?: boolean;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTty: process.stderr.isTTY === true,
};

/** Progress of a long loop on stderr: one redrawn bar on a terminal, one line per step elsewhere. */
export function progressReporter(io: CliIo, total: number): (done: number, detail: string) => void {
  const started = performance.now();
  return (done, detail) => {
    const seconds = (performance.now() - started) / 1000;
    const eta = done > 0 ? (seconds / done) * (total - done) : 0;
    if (io.stderrIsTty) {
      const width = 24;
      const filled = Math.round((done / total) * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      io.stderr(
        `\r[${bar}] ${done}/${total} ${detail} (${seconds.toFixed(0)} s, ~${eta.toFixed(0)} s left)\x1b[K${done === total ? '\n' : ''}`,
      );
    } else {
      io.stderr(`[${done}/${total}] ${detail} (${seconds.toFixed(0)} s elapsed)\n`);
    }
  };
}

/** Prints `value` as pretty JSON followed by a newline. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** `1536` -> `1.50 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/** Left-aligned text table. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
