// The cpu backend running W8A8 (MatMulInteger on int8 codes, per-token int8 activations) against the
// float goldens, with the reference backend's W8A8 bound for int8 weights without smoothing.
import { quantizeLinears } from '../quant/quantize-linears.js';
import { describeBackendConformance } from '../testing/conformance.js';
import { createCpuBackend } from './cpu-backend.js';

describeBackendConformance(() => createCpuBackend({ threads: 1 }), {
  prepareModel: quantizeLinears,
  relativeTolerance: 0.05,
});
