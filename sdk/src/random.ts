/**
 * The SDK's one seeded generator (mulberry32): the policy simulator, the local engine's spot
 * preemptions and the Batch emulator's faults draw from it, so a seed replays a run.
 */
export class SeededRandom {
  private state: number;

  /** @param seed - any integer; the same seed gives the same sequence */
  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0;
  }

  /**
   * A generator whose state starts at `state` itself rather than at a mix of a seed: the
   * sequence the local engine and the Batch emulator have always drawn for their seeds, so a
   * recorded run (and its tests) replays the same.
   */
  static fromState(state: number): SeededRandom {
    const rng = new SeededRandom(0);
    rng.state = state >>> 0;
    return rng;
  }

  /** Uniform in [0, 1). Bound: `const random = rng.next` works. */
  next = (): number => {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  /** Normal(mean, stdev) by Box-Muller. */
  normal(mean: number, stdev: number): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return mean + stdev * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Exponential with the given rate (per unit); Infinity for rate 0. */
  exponential(rate: number): number {
    if (rate <= 0) return Infinity;
    return -Math.log(1 - this.next()) / rate;
  }
}
