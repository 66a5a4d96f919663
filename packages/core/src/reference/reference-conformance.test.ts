// The reference backend against the HF / float64 goldens (the acceptance bar: max |error| <= 1e-3).
import { describeBackendConformance } from '../testing/conformance.js';
import { createReferenceBackend } from './reference-backend.js';

describeBackendConformance(() => createReferenceBackend(), { absoluteTolerance: 1e-3 });
