// Python's round(): halfway cases go to the even neighbour, decided on the double's exact value
// (JS Math.round and toFixed go up). fuzzywuzzy's int(round(100 * ratio)) and LongBench's
// round(100 * mean, 2) both depend on it.

/** `round(x)` in Python 3: the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * `round(x, digits)` in Python 3 for 0 <= digits <= 20: correctly rounded to `digits` decimals,
 * exact ties (such as 12.125, which is exactly representable) to the even last digit.
 */
export function roundToDigits(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x;
  // toFixed rounds the exact binary value correctly except at exact ties, where it goes away from
  // zero; its 100-digit form is exact for every double that can be such a tie.
  const exact = Math.abs(x).toFixed(100);
  const point = exact.indexOf('.');
  if (!/^50*$/.test(exact.slice(point + 1 + digits))) return Number(x.toFixed(digits));
  const truncated = exact.slice(0, digits === 0 ? point : point + 1 + digits);
  if (Number(truncated[truncated.length - 1]) % 2 === 0) return Math.sign(x) * Number(truncated);
  return Number(x.toFixed(digits));
}
