// Argument checks shared by every executor's forward(), run before any state changes so a bad call
// never leaves a sequence half-updated.
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
