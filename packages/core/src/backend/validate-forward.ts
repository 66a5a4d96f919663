// Argument checks shared by every executor's forward(), run before any state changes so a bad call
// never leaves a sequence half-updated.
import type { DecodeStep } from './backend.js';
import { CapacityError, ExecutorInputError, TokenIdError } from './backend-errors.js';

/** What a forward call is checked against. */
export interface ForwardLimits {
  readonly maxSequences: number;
  readonly maxTokens: number;
  readonly vocabSize: number;
}

/** Checks `sequence` is an integer in `[0, maxSequences)`. Throws {@link ExecutorInputError}. */
export function checkSequenceIndex(sequence: number, maxSequences: number): void {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence >= maxSequences) {
    throw new ExecutorInputError(`sequence ${sequence} is outside [0, ${maxSequences})`);
  }
}

/**
 * Checks a forward call: valid sequence, at least one token, every id an integer in
 * `[0, vocabSize)`, and `currentLength + tokens.length <= maxTokens`.
 */
export function checkForwardRequest(
  limits: ForwardLimits,
  sequence: number,
  tokens: readonly number[],
  currentLength: number,
): void {
  checkSequenceIndex(sequence, limits.maxSequences);
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new ExecutorInputError(`forward on sequence ${sequence} needs at least one token`);
  }
  tokens.forEach((id, index) => {
    if (!Number.isInteger(id) || id < 0 || id >= limits.vocabSize)
      throw new TokenIdError(id, index, limits.vocabSize);
  });
  if (currentLength + tokens.length > limits.maxTokens) {
    throw new CapacityError(
      `sequence ${sequence} holds ${currentLength} tokens; adding ${tokens.length} would exceed maxTokens ${limits.maxTokens}`,
    );
  }
}

/**
 * Checks a {@link DecodeStep} batch: at least one step, distinct sequences, and each step as
 * {@link checkForwardRequest} checks a one-token call. `lengthOf(sequence)` is the sequence's
 * current length, or undefined to skip the capacity check (it depends on calls queued before).
 */
export function checkDecodeBatch(
  limits: ForwardLimits,
  steps: readonly DecodeStep[],
  lengthOf?: (sequence: number) => number,
): void {
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new ExecutorInputError('forwardBatch needs at least one decode step');
  }
  const seen = new Set<number>();
  steps.forEach((step, index) => {
    if (step === null || typeof step !== 'object') {
      throw new ExecutorInputError(`decode step ${index} must be an object { sequence, token }`);
    }
    if (seen.has(step.sequence)) {
      throw new ExecutorInputError(
        `decode step ${index}: sequence ${step.sequence} appears twice in one batch`,
      );
    }
    seen.add(step.sequence);
    checkForwardRequest(limits, step.sequence, [step.token], lengthOf?.(step.sequence) ?? 0);
  });
}
