// @duo-attn/core: model loading, KV-cache policies, the backend contract and registry, the
// reference backend, and the engine. Importing it registers the reference backend (negative
// priority: used only when asked for by name), the one side effect of this entry.
import { registerReferenceBackend } from './reference/register.js';

export * from './backend/index.js';
export * from './engine/index.js';
export type { SourceLocation } from './errors.js';
export { DuoError, formatLocation } from './errors.js';
export * from './model/index.js';
export * from './policy/index.js';
export { foldSeed, mulberry32, mulberry32Uint32 } from './random.js';
export * from './reference/index.js';
export * from './tokenizer/index.js';

registerReferenceBackend();
