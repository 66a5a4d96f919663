// GPU only (vitest.gpu.config.ts): the cuda gate trainer through core's gate-training suite: loss and
// d(loss)/d(alpha) against torch autograd in float64, bf16 tolerance (2e-2 of the largest value).
// The GPU machine runs the same suite bundled (tools/device/bundle/cuda-suite.ts).
import { describeGateTrainerConformance } from '@duo-attn/core/testing';
import { createCudaBackend } from './cuda-backend.js';

describeGateTrainerConformance(() => createCudaBackend(), { relativeTolerance: 2e-2 });
