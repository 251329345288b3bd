import { Duration } from '../gen/google/protobuf/duration';
import { durationFromWire, durationToWire } from './wire-mapping';

describe('the one Duration mapping', () => {
  it.each<[number, { seconds: number; nanos: number }]>([
    [0, { seconds: 0, nanos: 0 }],
    [1, { seconds: 0, nanos: 1_000_000 }],
    [1500, { seconds: 1, nanos: 500_000_000 }],
    [5000, { seconds: 5, nanos: 0 }],
    [2.5, { seconds: 0, nanos: 2_500_000 }],
    // Sub-nanosecond parts round; nanos never reaches 1e9.
    [999.9999999, { seconds: 1, nanos: 0 }],
    [86_400_000 * 3, { seconds: 259_200, nanos: 0 }],
  ])('GIVEN %d ms WHEN mapped THEN %j, and back', (ms, wire) => {
    expect(durationToWire(ms)).toEqual(wire);
    expect(durationFromWire(wire)).toBeCloseTo(ms, 5);
    // What the generated codec writes reads back the same.
    expect(durationFromWire(Duration.decode(Duration.encode(durationToWire(ms)).finish()))).toBeCloseTo(
      ms,
      5,
    );
  });

  it('GIVEN nothing THEN nothing', () => {
    expect(durationToWire(undefined)).toBeUndefined();
    expect(durationFromWire(undefined)).toBeUndefined();
  });
});
