import { describe, expect, it } from 'vitest';
import { planHeadOrder } from './head-order.js';

describe('planHeadOrder', () => {
  it('puts retrieval heads first, stable, and expands to query heads for GQA', () => {
    const plan = planHeadOrder(
      [
        [0, 1, 0, 1],
        [1, 1, 1, 1],
        [0, 0, 0, 0],
      ],
      8,
    );
    expect(plan.groupSize).toBe(2);
    expect(plan.layers[0]).toEqual({
      kvHeads: [1, 3, 0, 2],
      queryHeads: [2, 3, 6, 7, 0, 1, 4, 5],
      numRetrievalKvHeads: 2,
    });
    expect(plan.layers[1]!.kvHeads).toEqual([0, 1, 2, 3]);
    expect(plan.layers[2]).toMatchObject({ kvHeads: [0, 1, 2, 3], numRetrievalKvHeads: 0 });
  });

  it('defaults to MHA and treats values > 0.5 as retrieval', () => {
    const plan = planHeadOrder([[0.4, 0.6, 0.5]]);
    expect(plan.layers[0]).toEqual({ kvHeads: [1, 0, 2], queryHeads: [1, 0, 2], numRetrievalKvHeads: 1 });
  });

  it('rejects a query-head count that is not a multiple', () => {
    expect(() => planHeadOrder([[1, 0]], 3)).toThrow(/multiple of numKvHeads/);
    expect(() => planHeadOrder([[1, 0], [1]])).toThrow(/layer 1 has 1 heads/);
  });
});
