import { lowerBound } from './lower-bound';
import { onlineFloor } from './online-floor';
import { parseScenario, type Scenario } from './scenario';

const scenario = (over: Partial<Record<string, unknown>> = {}): Scenario =>
  parseScenario({
    name: 'window',
    horizonSeconds: 200_000,
    localFarm: { workers: 4, speed: 1 },
    cloud: {
      maxNodes: 50,
      nodeBootSeconds: 300,
      nodeSpeed: 1,
      dedicatedPricePerHour: 1,
      spotPricePerHour: 0.2,
      spotEvictionsPerNodeHour: 0,
      billingGranularitySeconds: 60,
      transferSecondsPerFrame: 0,
    },
    jobs: [
      {
        id: 'a',
        submitAtSeconds: 0,
        frames: 100,
        frameSeconds: { mean: 600, stdev: 60 },
        priority: 50,
        deadlineAtSeconds: 9000,
      },
    ],
    seed: 3,
    ...over,
  });

describe('onlineFloor', () => {
  it('lies between the hindsight bound and sending everything late to the cloud', () => {
    // GIVEN 100 frames of 600 s on 4 workers due in 9,000 s (about 15 per worker fit)
    const sc = scenario();
    const floor = onlineFloor(sc)!;
    const lb = lowerBound(sc).cost;
    // THEN the floor is at least the bound (it only adds not knowing frame times)
    expect(floor.cost).toBeGreaterThanOrEqual(lb - 1e-9);
    // AND it sends about the frames that do not fit: 100 - 4 × ~14 (guarded end game)
    expect(floor.cloudFrames).toBeGreaterThanOrEqual(100 - 4 * 15);
    expect(floor.cloudFrames).toBeLessThanOrEqual(100 - 4 * 13);
    // AND the split is made one cloud frame before the deadline
    expect(floor.commitAtSeconds).toBeCloseTo(9000 - 600, 6);
  });

  it('is 0 when the farm has room, and undefined when deadline jobs do not share a window', () => {
    expect(
      onlineFloor(
        scenario({
          jobs: [
            {
              id: 'a',
              submitAtSeconds: 0,
              frames: 8,
              frameSeconds: { mean: 600, stdev: 60 },
              priority: 50,
              deadlineAtSeconds: 9000,
            },
          ],
        }),
      )!.cost,
    ).toBe(0);
    const two = scenario({
      jobs: [
        {
          id: 'a',
          submitAtSeconds: 0,
          frames: 8,
          frameSeconds: { mean: 600, stdev: 60 },
          priority: 50,
          deadlineAtSeconds: 9000,
        },
        {
          id: 'b',
          submitAtSeconds: 100,
          frames: 8,
          frameSeconds: { mean: 600, stdev: 60 },
          priority: 50,
          deadlineAtSeconds: 9000,
        },
      ],
    });
    expect(onlineFloor(two)).toBeUndefined();
  });

  it('sends more with a surer guard (where the cloud is slow enough to commit early)', () => {
    const sc = scenario({
      localFarm: { workers: 20, speed: 1 },
      cloud: {
        maxNodes: 50,
        nodeBootSeconds: 300,
        nodeSpeed: 2,
        dedicatedPricePerHour: 1,
        spotPricePerHour: 0.2,
        spotEvictionsPerNodeHour: 0,
        billingGranularitySeconds: 60,
        transferSecondsPerFrame: 0,
      },
      jobs: [
        {
          id: 'a',
          submitAtSeconds: 0,
          frames: 400,
          frameSeconds: { mean: 600, stdev: 200 },
          priority: 50,
          deadlineAtSeconds: 9000,
        },
      ],
    });
    expect(onlineFloor(sc, 0.9999)!.cloudFrames).toBeGreaterThan(onlineFloor(sc, 0.9)!.cloudFrames);
  });
});
