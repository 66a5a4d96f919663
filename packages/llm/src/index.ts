// @duo-attn/llm: load a model directory and generate, stream or chat, under full attention,
// streaming heads or DuoAttention (a pattern plus a sparsity), on the best backend installed.
export type { ChatMessage, FinishReason, GeneratedToken, GenerateResult } from '@duo-attn/core';
export type { ChatSessionOptions } from './chat-session.js';
export { ChatSession } from './chat-session.js';
export { LlmOptionError, ModelDisposedError, StreamReusedError } from './errors.js';
export type { GenerationOptions } from './generation-options.js';
export { GenerationStream } from './generation-stream.js';
export { registerInstalledBackends } from './installed-backends.js';
export type { CreateLanguageModelOptions, LoadLanguageModelOptions } from './language-model.js';
export { createLanguageModel, LanguageModel, loadLanguageModel } from './language-model.js';
export type { PolicyOptions, ResolvedPolicy } from './resolve-policy.js';
export { DEFAULT_STREAMING_WINDOW, resolvePolicy } from './resolve-policy.js';
