// Line charts as standalone SVG for benchmark results (latency vs context, throughput vs chunk
// size): one series per policy, optional log-2 x axis, axis ticks, legend.

/** One named series of (x, y) points. */
export interface ChartSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Plot x on a log-2 scale (contexts and chunk sizes are powers of two). */
  readonly logX?: boolean;
  readonly width?: number;
  readonly height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** Renders `series` as an SVG line chart (y from 0 to the largest value). */
export function renderLineChartSvg(series: readonly ChartSeries[], options: LineChartOptions): string {
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) throw new RangeError('a line chart needs at least one point');
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const left = 70;
  const right = 150;
  const top = 40;
  const bottom = 50;
  const fx = (x: number) => (options.logX ? Math.log2(x) : x);
  const xs = points.map(([x]) => fx(x));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMax = niceCeiling(Math.max(...points.map(([, y]) => y)));
  const px = (x: number) =>
    left + (xMax === xMin ? 0.5 : (fx(x) - xMin) / (xMax - xMin)) * (width - left - right);
  const py = (y: number) => top + (1 - y / yMax) * (height - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${(left + width - right) / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    parts.push(
      `<line x1="${left}" y1="${py(y)}" x2="${width - right}" y2="${py(y)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end">${formatTick(y)}</text>`,
    );
  }
  for (const x of [...new Set(points.map(([x]) => x))].sort((a, b) => a - b)) {
    parts.push(`<text x="${px(x)}" y="${height - bottom + 16}" text-anchor="middle">${formatTick(x)}</text>`);
  }
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="16" y="${(top + height - bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + height - bottom) / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${sorted.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`,
    );
    for (const [x, y] of sorted)
      parts.push(
        `<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${color}"><title>${escapeXml(s.name)}: ${x}, ${y}</title></circle>`,
      );
    const ly = top + 10 + i * 18;
    parts.push(
      `<line x1="${width - right + 12}" y1="${ly}" x2="${width - right + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - right + 38}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((v) => v >= value)!;
}

function formatTick(value: number): string {
  if (value >= 1024 && Number.isInteger(value) && value % 1024 === 0) return `${value / 1024}K`;
  return Number.isInteger(value) ? String(value) : value.toPrecision(3);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
