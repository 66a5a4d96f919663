// The per-layer head permutation that makes retrieval heads a contiguous prefix: the original
// reorders q/k/v rows and o columns once at load so every later step uses dense slices.
import { PatternOptionError } from './errors.js';
import type { Matrix } from './pattern.js';

/** One layer's permutation. `kvHeads[i]` is the original index of the KV head placed at slot i. */
export interface LayerHeadOrder {
  /** Original KV-head indices, retrieval heads first, each group in original order. */
  readonly kvHeads: readonly number[];
  /** Original query-head indices in the same order (each KV head brings its GQA group along). */
  readonly queryHeads: readonly number[];
  /** Retrieval KV heads in this layer: slots `[0, numRetrievalKvHeads)` of `kvHeads`. */
  readonly numRetrievalKvHeads: number;
}

/** A head-reorder plan for a whole model. */
export interface HeadOrderPlan {
  readonly numKvHeads: number;
  readonly numHeads: number;
  /** Query heads per KV head (`numHeads / numKvHeads`). */
  readonly groupSize: number;
  readonly layers: readonly LayerHeadOrder[];
}

/**
 * Plans the stable partition [retrieval | streaming] of each layer's heads from a binary mask
 * (`> 0.5` counts as retrieval, as in the original). `numHeads` (query heads) defaults to the
 * KV-head count (MHA); for GQA, query heads `h*G … h*G+G-1` follow KV head `h`.
 */
export function planHeadOrder(mask: Matrix, numHeads?: number): HeadOrderPlan {
  const numKvHeads = mask[0]?.length ?? 0;
  if (numKvHeads === 0) throw new PatternOptionError('the mask has no heads');
  const queryHeads = numHeads ?? numKvHeads;
  if (!Number.isInteger(queryHeads) || queryHeads <= 0 || queryHeads % numKvHeads !== 0) {
    throw new PatternOptionError(
      `numHeads (${queryHeads}) must be a positive multiple of numKvHeads (${numKvHeads})`,
    );
  }
  const groupSize = queryHeads / numKvHeads;
  const layers = mask.map((row, layer) => {
    if (row.length !== numKvHeads) {
      throw new PatternOptionError(`mask layer ${layer} has ${row.length} heads, layer 0 has ${numKvHeads}`);
    }
    const retrieval: number[] = [];
    const streaming: number[] = [];
    row.forEach((flag, kvHead) => {
      (flag > 0.5 ? retrieval : streaming).push(kvHead);
    });
    const kvHeads = [...retrieval, ...streaming];
    return {
      kvHeads,
      queryHeads: kvHeads.flatMap((kvHead) =>
        Array.from({ length: groupSize }, (_, g) => kvHead * groupSize + g),
      ),
      numRetrievalKvHeads: retrieval.length,
    };
  });
  return { numKvHeads, numHeads: queryHeads, groupSize, layers };
}
