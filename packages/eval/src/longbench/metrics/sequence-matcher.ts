// The similarity ratio of Python's difflib.SequenceMatcher(None, a, b) (default autojunk), which
// fuzzywuzzy's fuzz.ratio uses when python-Levenshtein is not installed, and the ratio
// python-Levenshtein gives instead. Both work on code points.

/**
 * Characters matched by difflib's recursive longest-match decomposition. With autojunk, when b has
 * 200 or more elements, elements occurring more than 1 + ⌊|b| / 100⌋ times are "popular": they never
 * start a match, though a match found without them is still extended over them (difflib's rule).
 */
function difflibMatches(a: readonly string[], b: readonly string[]): number {
  const positions = new Map<string, number[]>();
  b.forEach((element, j) => {
    const list = positions.get(element);
    if (list === undefined) positions.set(element, [j]);
    else list.push(j);
  });
  if (b.length >= 200) {
    const limit = Math.floor(b.length / 100) + 1;
    for (const [element, list] of positions) if (list.length > limit) positions.delete(element);
  }
  const longest = (aLow: number, aHigh: number, bLow: number, bHigh: number): [number, number, number] => {
    let bestI = aLow;
    let bestJ = bLow;
    let bestSize = 0;
    // Length of the match ending at (i - 1, j), for the previous i.
    let runs = new Map<number, number>();
    for (let i = aLow; i < aHigh; i++) {
      const next = new Map<number, number>();
      for (const j of positions.get(a[i]!) ?? []) {
        if (j < bLow) continue;
        if (j >= bHigh) break;
        const size = (runs.get(j - 1) ?? 0) + 1;
        next.set(j, size);
        if (size > bestSize) {
          bestI = i - size + 1;
          bestJ = j - size + 1;
          bestSize = size;
        }
      }
      runs = next;
    }
    while (bestI > aLow && bestJ > bLow && a[bestI - 1] === b[bestJ - 1]) {
      bestI--;
      bestJ--;
      bestSize++;
    }
    while (
      bestI + bestSize < aHigh &&
      bestJ + bestSize < bHigh &&
      a[bestI + bestSize] === b[bestJ + bestSize]
    ) {
      bestSize++;
    }
    return [bestI, bestJ, bestSize];
  };
  let matched = 0;
  const queue: [number, number, number, number][] = [[0, a.length, 0, b.length]];
  while (queue.length > 0) {
    const [aLow, aHigh, bLow, bHigh] = queue.pop()!;
    const [i, j, size] = longest(aLow, aHigh, bLow, bHigh);
    if (size === 0) continue;
    matched += size;
    if (aLow < i && bLow < j) queue.push([aLow, i, bLow, j]);
    if (i + size < aHigh && j + size < bHigh) queue.push([i + size, aHigh, j + size, bHigh]);
  }
  return matched;
}

/** Length of a longest common subsequence (code points). */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Int32Array(b.length + 1);
  let current = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

/** Which implementation fuzzywuzzy ran on: difflib (its fallback) or python-Levenshtein. */
export type SimilarityMatcher = 'difflib' | 'levenshtein';

/**
 * 2·M / (|a| + |b|), 1 for two empty strings. M is difflib's matching-block total, or with
 * `levenshtein` the longest common subsequence (python-Levenshtein's ratio: 1 − indel distance /
 * (|a| + |b|)). difflib's M can be smaller than the LCS, so the two can differ.
 */
export function similarityRatio(a: string, b: string, matcher: SimilarityMatcher = 'difflib'): number {
  const left = Array.from(a);
  const right = Array.from(b);
  const total = left.length + right.length;
  if (total === 0) return 1;
  const matches = matcher === 'difflib' ? difflibMatches(left, right) : lcsLength(left, right);
  return (2.0 * matches) / total;
}
