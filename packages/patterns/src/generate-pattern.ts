// Patterns made without training: a constant fill (e.g. 1.0, the full-attention template for a
// new model) or synthetic gates shaped like trained ones, for demos, tests and random baselines.
// Synthetic gates are NOT a trained pattern and say so in their config.
import { PatternOptionError } from './errors.js';
import { Mt19937 } from './mt19937.js';
import { type AttentionPattern, createPattern } from './pattern.js';

export interface GeneratePatternOptions {
  readonly numLayers: number;
  readonly numKvHeads: number;
  /** Every gate gets this value. Without it, synthetic gates are drawn from `seed`. */
  readonly fill?: number;
  /** Seed of the synthetic gates (default 0). */
  readonly seed?: number;
  /** Default 128 and 256, the values the original trains with. */
  readonly sinkSize?: number;
  readonly recentSize?: number;
}

/**
 * Generates a pattern. Synthetic gates mimic trained ones: about a third are exactly 1.0, the rest
 * spread over [0, 1) with more mass near 0, all rounded to bfloat16 like a trained gate.
 */
export function generatePattern(options: GeneratePatternOptions): AttentionPattern {
  const { numLayers, numKvHeads } = options;
  for (const [name, value] of [
    ['numLayers', numLayers],
    ['numKvHeads', numKvHeads],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0)
      throw new PatternOptionError(`${name} must be a positive integer, got ${value}`);
  }
  if (options.fill !== undefined && !(options.fill >= 0 && options.fill <= 1)) {
    throw new PatternOptionError(`fill must be in [0, 1], got ${options.fill}`);
  }
  const random = new Mt19937(options.seed ?? 0);
  const alpha = Array.from({ length: numLayers }, () =>
    Array.from({ length: numKvHeads }, () => {
      if (options.fill !== undefined) return options.fill;
      if (random.nextDouble() < 0.33) return 1;
      return roundToBfloat16(random.nextDouble() ** 2);
    }),
  );
  return createPattern({
    alpha,
    sinkSize: options.sinkSize ?? 128,
    recentSize: options.recentSize ?? 256,
    config: {
      generator:
        options.fill !== undefined
          ? `duo-attn fill=${options.fill}`
          : `duo-attn synthetic seed=${options.seed ?? 0}`,
    },
  });
}

/** Rounds to the nearest bfloat16 (ties to even), returned as a double. */
export function roundToBfloat16(value: number): number {
  const buffer = new DataView(new ArrayBuffer(4));
  buffer.setFloat32(0, value);
  const bits = buffer.getUint32(0);
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  buffer.setUint32(0, rounded >>> 0);
  return buffer.getFloat32(0);
}
