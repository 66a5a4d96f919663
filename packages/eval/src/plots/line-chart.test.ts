import { describe, expect, it } from 'vitest';
import { renderLineChartSvg } from './line-chart.js';

describe('renderLineChartSvg', () => {
  it('draws one polyline per series with a legend and power-of-two ticks', () => {
    const svg = renderLineChartSvg(
      [
        {
          name: 'full',
          points: [
            [1024, 2],
            [4096, 6],
            [32768, 60],
          ],
        },
        {
          name: 'duo <50%>',
          points: [
            [1024, 3],
            [32768, 27],
          ],
        },
      ],
      { title: 'decode', xLabel: 'context', yLabel: 'ms/token', logX: true },
    );
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('duo &lt;50%&gt;');
    expect(svg).toContain('>32K<');
    expect(svg.match(/<circle/g)).toHaveLength(5);
  });

  it('rejects an empty chart', () => {
    expect(() => renderLineChartSvg([], { title: '', xLabel: '', yLabel: '' })).toThrow(/at least one point/);
  });
});
