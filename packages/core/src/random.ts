// The one seeded PRNG of core (mulberry32): sampling, random test models and random checkpoints
// all draw from it, so a seed means the same stream everywhere. Integer arithmetic only
// (Math.imul, shifts), hence bit-identical across platforms and engines.

/** Returns a generator of 32-bit unsigned integers from a 32-bit state. */
export function mulberry32Uint32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Mulberry32 returning floats in [0, 1) with 32 bits of resolution. */
export function mulberry32(seed: number): () => number {
  const next = mulberry32Uint32(seed);
  return () => next() / 4294967296;
}

/**
 * Folds any safe integer (negative, or beyond 2^32) into a 32-bit seed, so seeds that differ anywhere
 * in their 53 bits give different streams. Seeds in [0, 2^32) map to themselves.
 */
export function foldSeed(seed: number): number {
  const low = seed >>> 0;
  const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
  return (low ^ Math.imul(high, 0x9e3779b9)) >>> 0;
}
