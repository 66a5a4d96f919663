// numpy's legacy random stream (`np.random.seed(n)` then `np.random.uniform`), so that sparsifying
// with a seed selects exactly the heads the original selects after `seed(n)`.

const N = 624;
const M = 397;

/** The Mersenne Twister MT19937 as seeded by numpy's legacy `RandomState.seed(int)`. */
export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /** @param seed an integer in [0, 2^32). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    }
    this.state[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const previous = this.state[i - 1]!;
      const mixed = previous ^ (previous >>> 30);
      // 1812433253 * mixed + i, modulo 2^32, without losing precision in doubles.
      const product =
        ((((mixed & 0xffff0000) >>> 16) * 1812433253) << 16) + (mixed & 0x0000ffff) * 1812433253;
      this.state[i] = (product + i) >>> 0;
    }
  }

  /** The next 32-bit output. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits, as numpy's `random_sample`. */
  nextDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** numpy's `uniform(low, high)`: `low + (high - low) * u`. */
  nextUniform(low: number, high: number): number {
    return low + (high - low) * this.nextDouble();
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i]! & 0x80000000) | (s[(i + 1) % N]! & 0x7fffffff);
      let next = s[(i + M) % N]! ^ (y >>> 1);
      if (y & 1) next ^= 0x9908b0df;
      s[i] = next >>> 0;
    }
    this.index = 0;
  }
}
