// Builds a needle-in-a-haystack prompt of an exact token length, as the original does: the haystack
// is cut to fit, the needle goes in at the requested depth moved back to the nearest sentence end,
// and the question (ending in the answer prefix) closes the prompt.

/** The token sequences a prompt is assembled from. */
export interface NeedlePromptParts {
  /** Haystack token ids, at least as many as the prompt needs. */
  readonly haystackIds: readonly number[];
  readonly needleIds: readonly number[];
  /** Question followed by the answer prefix: the model continues right after it. */
  readonly questionIds: readonly number[];
  /** Prepended when defined (the model's BOS). */
  readonly bosId?: number;
  /** Token ids that end a sentence; the needle is placed right after one of them. */
  readonly sentenceEndIds: ReadonlySet<number>;
}

/** A built prompt and where its needle sits. */
export interface NeedlePrompt {
  readonly ids: number[];
  /** Index in `ids` of the needle's first token. */
  readonly needleStart: number;
  /** Where the needle landed, as a fraction of the haystack (0 = start, 1 = end). */
  readonly actualDepth: number;
}

/** Raised when a prompt of the requested length cannot be built. */
export class NeedlePromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NeedlePromptError';
  }
}

/**
 * Assembles `[bos] haystack[0, p) needle haystack[p, n) question` of exactly `length` tokens, with p
 * at `depthPercent` of the haystack moved back to just after a sentence end (p = 0 at 0%, p = n at 100%).
 */
export function buildNeedlePrompt(
  parts: NeedlePromptParts,
  length: number,
  depthPercent: number,
): NeedlePrompt {
  if (!(depthPercent >= 0 && depthPercent <= 100)) {
    throw new NeedlePromptError(`depth must be in [0, 100], got ${depthPercent}`);
  }
  const fixed = (parts.bosId !== undefined ? 1 : 0) + parts.needleIds.length + parts.questionIds.length;
  const haystackLength = length - fixed;
  if (haystackLength < 1) {
    throw new NeedlePromptError(
      `a ${length}-token prompt has no room for haystack: needle and question take ${fixed} tokens`,
    );
  }
  if (parts.haystackIds.length < haystackLength) {
    throw new NeedlePromptError(
      `haystack has ${parts.haystackIds.length} tokens, ${haystackLength} are needed`,
    );
  }
  const haystack = parts.haystackIds.slice(0, haystackLength);
  let point = Math.round((depthPercent / 100) * haystackLength);
  if (point < haystackLength) {
    while (point > 0 && !parts.sentenceEndIds.has(haystack[point - 1]!)) point--;
  }
  const prefix = parts.bosId !== undefined ? [parts.bosId] : [];
  const ids = [
    ...prefix,
    ...haystack.slice(0, point),
    ...parts.needleIds,
    ...haystack.slice(point),
    ...parts.questionIds,
  ];
  return { ids, needleStart: prefix.length + point, actualDepth: point / haystackLength };
}
