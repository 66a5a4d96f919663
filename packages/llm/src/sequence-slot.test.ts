import { describe, expect, it } from 'vitest';
import { SequencePool } from './sequence-slot.js';

describe('SequencePool', () => {
  it('hands out free sequences, then queues in arrival order', async () => {
    const pool = new SequencePool(2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect([a.slot.sequence, b.slot.sequence].sort()).toEqual([0, 1]);
    const order: number[] = [];
    const c = pool.acquire().then((held) => {
      order.push(1);
      return held;
    });
    const d = pool.acquire().then((held) => {
      order.push(2);
      return held;
    });
    expect(pool.waiting).toBe(2);
    b.release();
    b.release(); // a second release is harmless
    const heldC = await c;
    expect(heldC.slot).toBe(b.slot);
    a.release();
    const heldD = await d;
    expect(heldD.slot).toBe(a.slot);
    expect(order).toEqual([1, 2]);
    expect(pool.busy).toBe(2);
    heldC.release();
    heldD.release();
    expect(pool.busy).toBe(0);
  });

  it("gives a session its own sequence back, else a sequence nobody's cache is in", async () => {
    const pool = new SequencePool(3);
    const session = {};
    const other = {};
    const first = await pool.acquire(session);
    first.slot.remember(session, [1, 2, 3]);
    const second = await pool.acquire(other);
    second.slot.remember(other, [4, 5]);
    first.release();
    second.release();
    expect((await pool.acquire()).slot.owner).toBeUndefined();
    const again = await pool.acquire(session);
    expect(again.slot).toBe(first.slot);
  });

  it('acquireAll waits for every sequence', async () => {
    const pool = new SequencePool(2);
    const held = await pool.acquire();
    let all = false;
    const waiting = pool.acquireAll().then((release) => {
      all = true;
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(all).toBe(false);
    held.release();
    (await waiting)();
    expect(pool.busy).toBe(0);
  });
});
