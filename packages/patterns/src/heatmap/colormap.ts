// The viridis colour map (perceptually uniform, readable in greyscale), by linear interpolation
// between nine anchors of matplotlib's table.
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** RGB (0–255) of `t` in [0, 1] (clamped). */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as [number, number, number];
}

/** `#rrggbb` of `t` in [0, 1]. */
export function viridisHex(t: number): string {
  return `#${viridis(t)
    .map((c) => c.toString(16).padStart(2, '0'))
    .join('')}`;
}
