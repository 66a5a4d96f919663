// Tells an allocation failure (the answer "this many tokens does not fit") from any other failure
// (a bug, a bad option), so the capacity search steps down only for the former. Backends report it
// differently: the cuda addon's message names cudaErrorMemoryAllocation (its allocations say
// "cudaMalloc of N bytes for <what> failed: cudaErrorMemoryAllocation: out of memory"), V8 throws a
// RangeError when a typed array cannot be allocated.

const MESSAGE_PATTERNS: readonly RegExp[] = [
  /cudaErrorMemoryAllocation/,
  /\bout of memory\b/i,
  /Array buffer allocation failed/,
  /Invalid typed array length/,
  /Invalid array buffer length/,
];

/** True when `error` (or an error in its `cause` chain) says memory could not be allocated. */
export function isOutOfMemoryError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const { cudaError, code, message } = current as {
      cudaError?: unknown;
      code?: unknown;
      message?: unknown;
    };
    if (cudaError === 'cudaErrorMemoryAllocation') return true;
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') return true;
    if (typeof message === 'string' && MESSAGE_PATTERNS.some((pattern) => pattern.test(message))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
