// Typed errors of the ONNX writer, so callers can tell a malformed graph (a bug in the builder's
// caller) from a runtime failure of onnxruntime.
import { DuoError } from '../../errors.js';

/** A value cannot be encoded (out of range, wrong size, unsupported type). Code `E_ONNX_ENCODE`. */
export class OnnxEncodeError extends DuoError {
  constructor(message: string) {
    super('E_ONNX_ENCODE', message);
    this.name = 'OnnxEncodeError';
  }
}

/** A graph is malformed: duplicate or unknown names, bad shapes. Code `E_ONNX_GRAPH`. */
export class OnnxGraphError extends DuoError {
  constructor(message: string) {
    super('E_ONNX_GRAPH', message);
    this.name = 'OnnxGraphError';
  }
}
