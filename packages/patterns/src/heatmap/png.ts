// Heatmap as a PNG image, rasterised here and encoded with node:zlib (no native image libraries).
import { deflateSync } from 'node:zlib';
import type { Matrix } from '../pattern.js';
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel } from './bitmap-font.js';
import { viridis } from './colormap.js';
import { formatBarValue, type HeatmapOptions, heatmapLayout, normalise } from './heatmap-options.js';

type Rgb = readonly [number, number, number];

/** An RGB raster with the few drawing operations a heatmap needs. */
export class Raster {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const o = (yy * this.width + xx) * 3;
        this.pixels[o] = color[0];
        this.pixels[o + 1] = color[1];
        this.pixels[o + 2] = color[2];
      }
    }
  }

  /** Draws `text` with its top-left corner at (x, y); `align` positions it around x. */
  drawText(text: string, x: number, y: number, align: 'left' | 'center' | 'right' = 'left', scale = 1): void {
    const width = textWidth(text, scale);
    let cursor = align === 'left' ? x : align === 'center' ? x - width / 2 : x - width;
    for (const char of text) {
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (glyphPixel(char, gx, gy))
            this.fillRect(cursor + gx * scale, y + gy * scale, scale, scale, [0, 0, 0]);
        }
      }
      cursor += GLYPH_ADVANCE * scale;
    }
  }

  /** Encodes the raster as a PNG file (8-bit RGB, no interlace). */
  toPng(): Uint8Array {
    const stride = this.width * 3;
    const filtered = new Uint8Array((stride + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      filtered[y * (stride + 1)] = 0; // filter type None
      filtered.set(this.pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
    }
    const header = new Uint8Array(13);
    const view = new DataView(header.buffer);
    view.setUint32(0, this.width);
    view.setUint32(4, this.height);
    header.set([8, 2, 0, 0, 0], 8);
    return concat([
      Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(filtered, { level: 9 })),
      chunk('IEND', new Uint8Array(0)),
    ]);
  }
}

/** Renders `matrix` as a PNG heatmap (same layout as the SVG, at twice the resolution). */
export function renderHeatmapPng(matrix: Matrix, options: HeatmapOptions = {}): Uint8Array {
  const l = heatmapLayout(matrix, options);
  const s = 2;
  const raster = new Raster(l.width * s, l.height * s);
  if (options.title) raster.drawText(options.title, (l.left + l.plotWidth / 2) * s, 14 * s, 'center', s);
  matrix.forEach((row, r) => {
    row.forEach((value, c) => {
      raster.fillRect(
        (l.left + c * l.cell) * s,
        (l.top + r * l.cell) * s,
        l.cell * s,
        l.cell * s,
        viridis(normalise(value, l)),
      );
    });
  });
  for (let r = 0; r < l.rows; r += l.rowTickStep) {
    const label = options.yTicks?.[r] ?? String(r);
    raster.drawText(label, (l.left - 4) * s, (l.top + (r + 0.5) * l.cell - 3.5) * s, 'right', s);
  }
  for (let c = 0; c < l.columns; c += l.columnTickStep) {
    const label = options.xTicks?.[c] ?? String(c);
    raster.drawText(label, (l.left + (c + 0.5) * l.cell) * s, (l.top + l.plotHeight + 5) * s, 'center', s);
  }
  if (options.xLabel)
    raster.drawText(
      options.xLabel,
      (l.left + l.plotWidth / 2) * s,
      (l.top + l.plotHeight + 25) * s,
      'center',
      s,
    );
  if (options.yLabel) drawVerticalLabel(raster, options.yLabel, 6 * s, (l.top + l.plotHeight / 2) * s, s);
  for (let y = 0; y < l.plotHeight * s; y++) {
    raster.fillRect(
      l.barX * s,
      l.top * s + y,
      l.barWidth * s,
      1,
      viridis(1 - y / (l.plotHeight * s - 1 || 1)),
    );
  }
  raster.drawText(formatBarValue(l.max), (l.barX + l.barWidth + 4) * s, l.top * s, 'left', s);
  raster.drawText(
    formatBarValue(l.min),
    (l.barX + l.barWidth + 4) * s,
    (l.top + l.plotHeight - 7) * s,
    'left',
    s,
  );
  return raster.toPng();
}

function drawVerticalLabel(raster: Raster, text: string, x: number, centerY: number, scale: number): void {
  // Characters stacked top to bottom: readable without rotating the font.
  const step = (GLYPH_HEIGHT + 2) * scale;
  let y = centerY - (text.length * step) / 2;
  for (const char of text) {
    raster.drawText(char, x, y, 'left', scale);
    y += step;
  }
}

function textWidth(text: string, scale: number): number {
  return ([...text].length * GLYPH_ADVANCE - 1) * scale;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const typed = concat([new TextEncoder().encode(type), data]);
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(typed, 4);
  view.setUint32(8 + data.length, crc32(typed));
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
