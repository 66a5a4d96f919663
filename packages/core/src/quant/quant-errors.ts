// Errors of the quantized formats: a value they cannot encode, or encoded data whose sizes disagree.
import { DuoError } from '../errors.js';

/** Bad input to a quantizer or dequantizer; the message names the array and the group or row. */
export class QuantFormatError extends DuoError {
  constructor(message: string) {
    super('E_QUANT_FORMAT', message);
    this.name = 'QuantFormatError';
  }
}
