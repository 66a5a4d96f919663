// GPU only (vitest.gpu.config.ts): the cuda backend through core's conformance suite, bf16 tolerance
// (max |error| / max |golden| <= 2e-2). The GPU machine runs the same suite bundled
// (tools/device/bundle/cuda-suite.ts), since it has no node_modules.
import { describeBackendConformance } from '@duo-attn/core/testing';
import { createCudaBackend } from './cuda-backend.js';

describeBackendConformance(() => createCudaBackend(), { relativeTolerance: 2e-2, cacheDtype: 'bf16' });
