// @duo-attn/core: the types and contracts every other duo-attn package builds on.

export type { SourceLocation } from './errors.js';
export { DuoError, formatLocation } from './errors.js';
