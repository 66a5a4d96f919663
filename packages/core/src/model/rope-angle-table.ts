// cos/sin tables for the positions of one forward call, from the model module's RoPE code (HF's
// float32 rounding), with inverse frequencies computed once unless the RoPE type is dynamic NTK.
import type { RopeConfig } from './model-types.js';
import { type RopeFrequencies, ropeCosSin, ropeFrequencies } from './rope.js';

/** cos and sin of `[rows, headDim/2]` f32, already multiplied by the attention scaling. */
export interface RopeAngles {
  readonly cos: Float32Array;
  readonly sin: Float32Array;
}

/** Inverse frequencies of a model, computed once unless the RoPE type depends on sequence length. */
export class RopeAngleTable {
  private readonly rope: RopeConfig;
  private readonly headDim: number;
  private readonly fixed: RopeFrequencies | undefined;

  constructor(rope: RopeConfig, headDim: number) {
    this.rope = rope;
    this.headDim = headDim;
    this.fixed = rope.type === 'dynamic' ? undefined : ropeFrequencies(rope, headDim);
  }

  /** Whether frequencies depend on the sequence length (dynamic NTK). */
  get dynamic(): boolean {
    return this.fixed === undefined;
  }

  /**
   * Angles for positions `start .. start + rows - 1`. `dynamicLength` is the sequence length
   * dynamic NTK scales by (see `dynamicRopeLength`); ignored for the other types.
   */
  angles(start: number, rows: number, dynamicLength?: number): RopeAngles {
    const frequencies = this.fixed ?? ropeFrequencies(this.rope, this.headDim, dynamicLength);
    const half = this.headDim / 2;
    const cos = new Float32Array(rows * half);
    const sin = new Float32Array(rows * half);
    for (let t = 0; t < rows; t++) {
      ropeCosSin(
        frequencies,
        start + t,
        cos.subarray(t * half, (t + 1) * half),
        sin.subarray(t * half, (t + 1) * half),
      );
    }
    return { cos, sin };
  }
}
