import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { viridis, viridisHex } from './colormap.js';
import { crc32, renderHeatmapPng } from './png.js';
import { renderHeatmapSvg } from './svg.js';

describe('heatmaps', () => {
  const matrix = [
    [0, 0.5, 1],
    [1, 0.25, 0.75],
  ];

  it('maps values to viridis end points', () => {
    expect(viridisHex(0)).toBe('#440154');
    expect(viridisHex(1)).toBe('#fde725');
    expect(viridis(2)).toEqual(viridis(1));
  });

  it('renders an SVG with one cell per value and escaped labels', () => {
    const svg = renderHeatmapSvg(matrix, { title: 'a < b', xLabel: 'KV head', yLabel: 'layer' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<title>/g)).toHaveLength(6);
    expect(svg).toContain('a &lt; b');
    expect(svg).toContain('fill="#440154"><title>0,0: 0</title>');
  });

  it('renders a valid PNG whose pixels show the values', () => {
    const png = renderHeatmapPng(matrix, { cellSize: 10 });
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const view = new DataView(png.buffer, png.byteOffset);
    const width = view.getUint32(16);
    const height = view.getUint32(20);
    // Walk the chunks, check CRCs, collect IDAT.
    let offset = 8;
    const idat: Uint8Array[] = [];
    while (offset < png.length) {
      const length = view.getUint32(offset);
      const type = new TextDecoder().decode(png.subarray(offset + 4, offset + 8));
      expect(view.getUint32(offset + 8 + length)).toBe(crc32(png.subarray(offset + 4, offset + 8 + length)));
      if (type === 'IDAT') idat.push(png.subarray(offset + 8, offset + 8 + length));
      offset += 12 + length;
    }
    const raw = inflateSync(Buffer.concat(idat));
    expect(raw.length).toBe((width * 3 + 1) * height);
    // Cell (row 0, column 2) holds 1.0: its centre pixel is viridis(1). Layout: left 64, top 16, scale 2.
    const x = (64 + 2 * 10 + 5) * 2;
    const y = (16 + 5) * 2;
    const o = y * (width * 3 + 1) + 1 + x * 3;
    expect([raw[o], raw[o + 1], raw[o + 2]]).toEqual(viridis(1));
  });

  it('rejects an empty matrix', () => {
    expect(() => renderHeatmapSvg([])).toThrow(/empty/);
  });
});
