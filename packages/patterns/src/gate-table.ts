// `full_attention_heads.tsv`: one row per layer, one tab-separated gate per KV head, every value in
// numpy's `%.18e`, `\n` after every row (numpy.savetxt's defaults).
import { PatternFormatError } from './errors.js';
import { formatScientific } from './format-scientific.js';
import type { Matrix } from './pattern.js';

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses the gate table. Accepts CRLF line ends and one final newline; rejects blank rows, ragged
 * rows and cells that are not finite numbers, naming the line and column.
 */
export function parseGateTable(text: string, file: string): number[][] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new PatternFormatError({ file }, 'the gate table is empty');
  const rows: number[][] = [];
  lines.forEach((rawLine, index) => {
    const line = index + 1;
    const content = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (content.trim() === '') {
      throw new PatternFormatError({ file, line }, 'blank line inside the gate table');
    }
    const row = content.split('\t').map((cell, cellIndex) => {
      const column = cellIndex + 1;
      const trimmed = cell.trim();
      if (!NUMBER.test(trimmed)) {
        const shown = trimmed === '' ? 'an empty cell' : JSON.stringify(trimmed);
        throw new PatternFormatError({ file, line, column }, `expected a finite number, found ${shown}`);
      }
      const value = Number(trimmed);
      if (!Number.isFinite(value)) {
        throw new PatternFormatError({ file, line, column }, `number out of range: ${trimmed}`);
      }
      return value;
    });
    const expected = rows[0]?.length;
    if (expected !== undefined && row.length !== expected) {
      throw new PatternFormatError(
        { file, line },
        `row has ${row.length} values but line 1 has ${expected} (rows are layers, columns KV heads)`,
      );
    }
    rows.push(row);
  });
  return rows;
}

/** Formats the gate table exactly as numpy.savetxt does by default. */
export function formatGateTable(rows: Matrix): string {
  return rows.map((row) => `${row.map((value) => formatScientific(value, 18)).join('\t')}\n`).join('');
}
