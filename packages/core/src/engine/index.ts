// Public surface of the engine: generation, teacher-forced scoring and sampling over any Executor.

export type { BatchCapableExecutor, BatchingOptions, BatchingStats } from './batching-executor.js';
export { BatchingExecutor, canBatchDecode } from './batching-executor.js';
export type {
  DecodeStreamLike,
  FinishReason,
  GeneratedToken,
  GenerateOptions,
  GenerateResult,
  PromptTruncation,
  ScoreOptions,
  ScoreResult,
  TextDecoderLike,
} from './engine.js';
export { collectGeneration, generate, score } from './engine.js';
export { BackendResultError, ContextLengthError, EngineInputError } from './engine-errors.js';
export type { GenerationDefaults } from './generation-defaults.js';
export {
  DEFAULT_MAX_NEW_TOKENS,
  endOfSequenceIds,
  generationDefaults,
  TRANSFORMERS_DEFAULT_TOP_K,
} from './generation-defaults.js';
export type { ResolvedSamplingOptions, Rng, SamplingOptions } from './sampling.js';
export {
  applyRepetitionPenalty,
  argmax,
  createRng,
  resolveSamplingOptions,
  SamplingError,
  sampleToken,
} from './sampling.js';
export type { StopStringStep } from './stop-strings.js';
export { StopStringMatcher } from './stop-strings.js';
