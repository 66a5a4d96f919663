// The reference backend running W8A8 (int8 per-channel weights without smoothing, int8 per-token
// activations, exact integer accumulation) against the float goldens, alone and with a KV4 cache.
import { quantizeLinears } from '../quant/quantize-linears.js';
import { describeBackendConformance } from '../testing/conformance.js';
import { createReferenceBackend } from './reference-backend.js';

describeBackendConformance(() => createReferenceBackend(), {
  prepareModel: quantizeLinears,
  relativeTolerance: 0.05,
});
describeBackendConformance(() => createReferenceBackend(), {
  prepareModel: quantizeLinears,
  cacheDtype: 'int4',
  relativeTolerance: 0.2,
});
