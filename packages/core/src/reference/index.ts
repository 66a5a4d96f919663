// Public surface of the reference backend: the float32 oracle and its opt-in registration. (The
// seeded tiny-model builder is exported from @duo-attn/core/testing.)
export { createReferenceBackend, REFERENCE_BACKEND_NAME } from './reference-backend.js';
export type { ActivationObserver, LinearInputSite, ReferenceExecutorInit } from './reference-executor.js';
export { ReferenceExecutor } from './reference-executor.js';
export { ReferenceGateTrainer } from './reference-gate-trainer.js';
export { REFERENCE_BACKEND_PRIORITY, registerReferenceBackend } from './register.js';
