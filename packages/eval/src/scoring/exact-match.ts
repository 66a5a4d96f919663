// Exact-match scoring for retrieval answers: a numeric passkey counts as retrieved only when it
// stands as a whole number in the output, never as a piece of a longer digit run.
import { EvalOptionError } from '../errors.js';

function isAsciiDigit(character: string | undefined): boolean {
  return character !== undefined && character >= '0' && character <= '9';
}

/**
 * True iff `value` occurs in `output` without extending a longer run of ASCII digits: where the
 * value starts with a digit the character before the occurrence must not be a digit, and where it
 * ends with a digit the character after must not be one. So "1234567" matches in "is 1234567.",
 * "(1234567)" or "-1234567", but not in "91234567" or "12345678". Every occurrence is tried
 * (overlapping ones included). Only ASCII 0–9 count as digits; separators such as "1,234,567" are
 * not normalised away.
 *
 * @throws EvalOptionError when either argument is not a string or `value` is empty.
 */
export function containsValue(output: string, value: string): boolean {
  if (typeof output !== 'string') throw new EvalOptionError('containsValue: output must be a string');
  if (typeof value !== 'string' || value.length === 0)
    throw new EvalOptionError('containsValue: value must be a non-empty string');
  const checkBefore = isAsciiDigit(value[0]);
  const checkAfter = isAsciiDigit(value[value.length - 1]);
  for (let at = output.indexOf(value); at !== -1; at = output.indexOf(value, at + 1)) {
    if (checkBefore && isAsciiDigit(output[at - 1])) continue;
    if (checkAfter && isAsciiDigit(output[at + value.length])) continue;
    return true;
  }
  return false;
}
