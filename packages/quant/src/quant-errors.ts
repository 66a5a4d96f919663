// Errors of @duo-attn/quant: bad calibration or quantization options, and quantized checkpoints that
// cannot be trusted (wrong version, checksum mismatch, missing tensor).
import { DuoError } from '@duo-attn/core';

/** Bad options to calibration or quantization. Code `E_QUANT_OPTIONS`. */
export class QuantOptionsError extends DuoError {
  constructor(message: string) {
    super('E_QUANT_OPTIONS', message);
    this.name = 'QuantOptionsError';
  }
}

/** What was wrong with a quantized checkpoint. */
export type QuantCheckpointErrorCode = 'E_QUANT_VERSION' | 'E_QUANT_CHECKSUM' | 'E_QUANT_CHECKPOINT';

/**
 * A quantized checkpoint that cannot be loaded. `file` is the file at fault and `tensor` the tensor,
 * when one is; the message names both.
 */
export class QuantCheckpointError extends DuoError {
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(code: QuantCheckpointErrorCode, file: string, tensor: string | undefined, message: string) {
    super(code, `${file}${tensor === undefined ? '' : ` (tensor "${tensor}")`}: ${message}`);
    this.name = 'QuantCheckpointError';
    this.file = file;
    this.tensor = tensor;
  }
}
