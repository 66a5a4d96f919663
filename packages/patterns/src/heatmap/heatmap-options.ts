// Options shared by the SVG and PNG heatmap renderers, and the layout both derive from them.
import type { Matrix } from '../pattern.js';

/** A matrix rendered as coloured cells: rows top to bottom, columns left to right. */
export interface HeatmapOptions {
  readonly title?: string;
  /** Label of the horizontal axis (columns). */
  readonly xLabel?: string;
  /** Label of the vertical axis (rows). */
  readonly yLabel?: string;
  /** Tick labels of the columns; default 0, 1, 2, … */
  readonly xTicks?: readonly string[];
  /** Tick labels of the rows; default 0, 1, 2, … */
  readonly yTicks?: readonly string[];
  /** Value mapped to the first / last colour; default 0 and 1. */
  readonly min?: number;
  readonly max?: number;
  /** Cell side in pixels; default fits the plot in about 640 px. */
  readonly cellSize?: number;
}

export interface HeatmapLayout {
  readonly rows: number;
  readonly columns: number;
  readonly cell: number;
  readonly left: number;
  readonly top: number;
  readonly plotWidth: number;
  readonly plotHeight: number;
  readonly width: number;
  readonly height: number;
  readonly barX: number;
  readonly barWidth: number;
  readonly min: number;
  readonly max: number;
  /** Every how many rows / columns a tick label is drawn, so labels never overlap. */
  readonly rowTickStep: number;
  readonly columnTickStep: number;
}

export function heatmapLayout(matrix: Matrix, options: HeatmapOptions): HeatmapLayout {
  const rows = matrix.length;
  const columns = matrix[0]?.length ?? 0;
  if (rows === 0 || columns === 0) throw new RangeError('cannot draw a heatmap of an empty matrix');
  const cell = options.cellSize ?? Math.max(4, Math.min(48, Math.floor(560 / Math.max(rows, columns))));
  const left = 64;
  const top = options.title ? 40 : 16;
  const plotWidth = columns * cell;
  const plotHeight = rows * cell;
  const barX = left + plotWidth + 24;
  const barWidth = 16;
  return {
    rows,
    columns,
    cell,
    left,
    top,
    plotWidth,
    plotHeight,
    width: barX + barWidth + 56,
    height: top + plotHeight + 52,
    barX,
    barWidth,
    min: options.min ?? 0,
    max: options.max ?? 1,
    rowTickStep: Math.max(1, Math.ceil(14 / cell)),
    columnTickStep: Math.max(1, Math.ceil(24 / cell)),
  };
}

/** Position of `value` between min and max, in [0, 1]. */
export function normalise(value: number, layout: HeatmapLayout): number {
  const span = layout.max - layout.min;
  return span === 0 ? 0 : (value - layout.min) / span;
}

/** Formats a colour-bar label compactly. */
export function formatBarValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(3).replace(/0+$/, '');
}
