import { percentile, range, tenths } from './stats';

describe('percentile', () => {
  it.each([
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 6],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0, 1],
    [[7], 99, 7],
  ])('of %j at p%d is %d', (sorted, p, expected) => {
    expect(percentile(sorted, p)).toBe(expected);
  });

  it('is NaN for no values', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('range', () => {
  it.each([
    [[3, 1, 2], 0, '1–3'],
    [[1.04, 1.01], 1, '1.0'],
    [[2.5], 1, '2.5'],
    [[], 0, 'n/a'],
  ])('of %j with %d decimals is %s', (values, digits, expected) => {
    expect(range(values, digits)).toBe(expected);
  });
});

describe('tenths', () => {
  it('splits frames by completion, each tenth with its rate since the previous one', () => {
    // 20 frames, one every 100 ms from t=100: each tenth holds 2 frames over 200 ms.
    const frames = Array.from({ length: 20 }, (_, i) => ({ doneAt: (20 - i) * 100, latencies: [20 - i] }));
    const parts = tenths(frames, 0);
    expect(parts).toHaveLength(10);
    expect(parts.map((t) => t.frames)).toEqual(Array(10).fill(2));
    expect(parts.map((t) => t.framesPerSecond)).toEqual(Array(10).fill(10));
    expect(parts[0]).toMatchObject({ p50: 2, p99: 2 });
    expect(parts[9]).toMatchObject({ p50: 20, p99: 20 });
  });

  it('leaves out empty tenths of a short run', () => {
    expect(tenths([{ doneAt: 500, latencies: [1, 3] }], 0)).toEqual([
      { frames: 1, framesPerSecond: 2, p50: 3, p99: 3 },
    ]);
  });
});
