// Exact C-printf `%.{precision}e` formatting of a double, as numpy's text writer produces it
// (`%.18e`). Number#toExponential rounds ties away from zero; printf rounds the exact binary value
// half-to-even, so the digits are computed here from the exact value with BigInt.

/**
 * Formats `value` like C's `printf("%.<precision>e", value)`: one leading digit, `precision`
 * fraction digits, and an exponent of at least two digits (`8.593750000000000000e-01`).
 */
export function formatScientific(value: number, precision = 18): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  const negative = value < 0 || Object.is(value, -0);
  const digitsWanted = precision + 1;
  if (value === 0) return `${negative ? '-' : ''}0${precision > 0 ? `.${'0'.repeat(precision)}` : ''}e+00`;

  // value = mantissa * 2^exponent2 exactly.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(value));
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const biasedExponent = (high >>> 20) & 0x7ff;
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  let exponent2: number;
  if (biasedExponent === 0) {
    exponent2 = -1074;
  } else {
    mantissa |= 1n << 52n;
    exponent2 = biasedExponent - 1075;
  }

  // value = integerDigits * 10^exponent10 exactly.
  let integerDigits: bigint;
  let exponent10: number;
  if (exponent2 >= 0) {
    integerDigits = mantissa << BigInt(exponent2);
    exponent10 = 0;
  } else {
    integerDigits = mantissa * 5n ** BigInt(-exponent2);
    exponent10 = exponent2;
  }

  let digits = integerDigits.toString();
  let decimalExponent = digits.length - 1 + exponent10;
  if (digits.length <= digitsWanted) {
    digits = digits.padEnd(digitsWanted, '0');
  } else {
    const kept = BigInt(digits.slice(0, digitsWanted));
    const rest = digits.slice(digitsWanted);
    const half = `5${'0'.repeat(rest.length - 1)}`;
    const restIsZeroPadded = rest.padEnd(half.length, '0');
    let roundUp: boolean;
    if (restIsZeroPadded > half) roundUp = true;
    else if (restIsZeroPadded < half) roundUp = false;
    else roundUp = kept % 2n === 1n;
    let rounded = roundUp ? kept + 1n : kept;
    if (rounded.toString().length > digitsWanted) {
      rounded /= 10n;
      decimalExponent += 1;
    }
    digits = rounded.toString();
  }

  const fraction = precision > 0 ? `.${digits.slice(1)}` : '';
  const exponentSign = decimalExponent < 0 ? '-' : '+';
  const exponentDigits = String(Math.abs(decimalExponent)).padStart(2, '0');
  return `${negative ? '-' : ''}${digits[0]}${fraction}e${exponentSign}${exponentDigits}`;
}
