// The cpu backend against the HF / float64 goldens (the acceptance bar: max |error| <= 1e-3).
import { describeBackendConformance } from '../testing/conformance.js';
import { createCpuBackend } from './cpu-backend.js';

describeBackendConformance(() => createCpuBackend(), { absoluteTolerance: 1e-3 });
