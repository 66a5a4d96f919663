// @duo-attn/core: model loading, KV-cache policies, the backend contract and registry, the
// reference and cpu backends, and the engine. Importing it registers both backends, the one side
// effect of this entry: cpu (onnxruntime-node, priority 10: the default when no GPU backend is
// registered) and reference (negative priority: used only when asked for by name).
import { registerCpuBackend } from './cpu/register.js';
import { registerReferenceBackend } from './reference/register.js';

export * from './backend/index.js';
export * from './cpu/index.js';
export * from './engine/index.js';
export type { SourceLocation } from './errors.js';
export { DuoError, formatLocation } from './errors.js';
export type { StagedFile } from './io/atomic-write.js';
export { stageFile, writeFileAtomic, writeFilesAtomically } from './io/atomic-write.js';
export * from './model/index.js';
export * from './policy/index.js';
export * from './quant/index.js';
export { foldSeed, mulberry32, mulberry32Uint32 } from './random.js';
export * from './reference/index.js';
export * from './tokenizer/index.js';
export * from './training/index.js';

registerCpuBackend();
registerReferenceBackend();
