// Heatmap as a standalone SVG document: cells, tick labels, axis labels, title, colour bar.
import type { Matrix } from '../pattern.js';
import { viridisHex } from './colormap.js';
import { formatBarValue, type HeatmapOptions, heatmapLayout, normalise } from './heatmap-options.js';

/** Renders `matrix` as an SVG heatmap (text, UTF-8). */
export function renderHeatmapSvg(matrix: Matrix, options: HeatmapOptions = {}): string {
  const l = heatmapLayout(matrix, options);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${l.width}" height="${l.height}" viewBox="0 0 ${l.width} ${l.height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
  );
  if (options.title) {
    parts.push(
      `<text x="${l.left + l.plotWidth / 2}" y="24" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
    );
  }
  matrix.forEach((row, r) => {
    row.forEach((value, c) => {
      const x = l.left + c * l.cell;
      const y = l.top + r * l.cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${l.cell}" height="${l.cell}" fill="${viridisHex(normalise(value, l))}"><title>${r},${c}: ${value}</title></rect>`,
      );
    });
  });
  for (let r = 0; r < l.rows; r += l.rowTickStep) {
    const label = options.yTicks?.[r] ?? String(r);
    parts.push(
      `<text x="${l.left - 4}" y="${l.top + (r + 0.5) * l.cell + 4}" text-anchor="end">${escapeXml(label)}</text>`,
    );
  }
  for (let c = 0; c < l.columns; c += l.columnTickStep) {
    const label = options.xTicks?.[c] ?? String(c);
    parts.push(
      `<text x="${l.left + (c + 0.5) * l.cell}" y="${l.top + l.plotHeight + 14}" text-anchor="middle">${escapeXml(label)}</text>`,
    );
  }
  if (options.xLabel) {
    parts.push(
      `<text x="${l.left + l.plotWidth / 2}" y="${l.top + l.plotHeight + 34}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
  }
  if (options.yLabel) {
    const cy = l.top + l.plotHeight / 2;
    parts.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${escapeXml(options.yLabel)}</text>`,
    );
  }
  parts.push('<defs><linearGradient id="bar" x1="0" y1="1" x2="0" y2="0">');
  for (let i = 0; i <= 8; i++) parts.push(`<stop offset="${i / 8}" stop-color="${viridisHex(i / 8)}"/>`);
  parts.push('</linearGradient></defs>');
  parts.push(
    `<rect x="${l.barX}" y="${l.top}" width="${l.barWidth}" height="${l.plotHeight}" fill="url(#bar)"/>`,
  );
  parts.push(`<text x="${l.barX + l.barWidth + 4}" y="${l.top + 10}">${formatBarValue(l.max)}</text>`);
  parts.push(
    `<text x="${l.barX + l.barWidth + 4}" y="${l.top + l.plotHeight}">${formatBarValue(l.min)}</text>`,
  );
  parts.push('</svg>\n');
  return parts.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
