// The reference backend with a 4-bit KV cache against the same goldens (float32 goldens, so the
// bound is KV4's error: 4-bit codes with fp16 scale and zero per (token, KV head)).
import { describeBackendConformance } from '../testing/conformance.js';
import { createReferenceBackend } from './reference-backend.js';

describeBackendConformance(() => createReferenceBackend(), { cacheDtype: 'int4', relativeTolerance: 0.2 });
