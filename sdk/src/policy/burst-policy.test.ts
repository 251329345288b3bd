import {
  decideBurst,
  meanGivenAtLeast,
  type PolicyCapacityGroup,
  type PolicyInput,
  type PolicyJob,
  type PolicyNode,
} from './burst-policy';

const group = (over: Partial<PolicyCapacityGroup> = {}): PolicyCapacityGroup => ({
  name: 'g',
  maxNodes: 100,
  nodeBootSeconds: 420,
  cloudFrameTimeRatio: 1,
  transferSecondsPerFrame: 5,
  dedicatedPricePerHour: 0.68,
  spotPricePerHour: 0.14,
  spotEvictionsPerNodeHour: 0.05,
  billingGranularitySeconds: 60,
  nodes: [],
  ...over,
});
const job = (over: Partial<PolicyJob> = {}): PolicyJob => ({
  id: 'shot',
  priority: 50,
  queuedFrames: 400,
  renderingFrames: 0,
  cloudQueuedFrames: 0,
  cloudRunningFrames: 0,
  submittedAtSeconds: 0,
  deadlineAtSeconds: 36_000,
  frameSeconds: 600,
  frameSecondsStdev: 60,
  ...over,
});
const nodes = (n: number, node: PolicyNode): PolicyNode[] => Array.from({ length: n }, () => node);
const sum = (xs: readonly { frameCount: number }[]): number => xs.reduce((a, b) => a + b.frameCount, 0);

interface Case {
  readonly name: string;
  readonly input: PolicyInput;
  readonly offload: [min: number, max: number];
  readonly recall?: number;
  readonly spot: [min: number, max: number];
  readonly dedicated?: [min: number, max: number];
  readonly reason?: RegExp;
}

const cases: Case[] = [
  {
    name: 'idle farm: every queued frame starts locally, nothing goes to the cloud',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 30 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group(),
    },
    offload: [0, 0],
    spot: [0, 0],
  },
  {
    // 40 workers x 36,000 s / 612 s ≈ 58 frames each -> 2,320 locally; 3,000 queued.
    name: 'saturated farm: the tail that would miss the deadline is offloaded and spot nodes are sized for it',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 3000 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group(),
    },
    offload: [0, 0], // no node can take work within the lookahead yet: frames stay local
    spot: [11, 40],
    dedicated: [0, 0],
    reason: /scale out/,
  },
  {
    name: 'saturated farm with idle nodes: frames are offloaded for the nodes that can take them',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 3000 })],
      farm: { idleWorkers: 0, busyWorkers: 40 },
      group: group({ nodes: nodes(10, { kind: 'spot', state: 'idle', idleSinceSeconds: 0 }) }),
    },
    offload: [10, 10],
    spot: [11, 40],
  },
  {
    name: 'no deadline and no turnaround target: never worth cloud money',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 3000, deadlineAtSeconds: undefined })],
      farm: { idleWorkers: 0, busyWorkers: 40 },
      group: group({ nodes: nodes(10, { kind: 'spot', state: 'idle', idleSinceSeconds: 0 }) }),
    },
    offload: [0, 0],
    spot: [10, 10], // idle nodes are kept until idle for a billing interval
  },
  {
    name: 'turnaround target 0: overflow as soon as a frame cannot start locally',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 50, deadlineAtSeconds: undefined })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group({
        turnaroundTargetSeconds: 0,
        nodes: nodes(5, { kind: 'spot', state: 'idle', idleSinceSeconds: 0 }),
      }),
    },
    offload: [5, 5],
    spot: [10, 10],
  },
  {
    name: 'boot in progress: booting nodes count; no new ones, nothing offloaded before they are near ready',
    input: {
      nowSeconds: 100,
      jobs: [job({ queuedFrames: 2560, renderingFrames: 40 })],
      farm: { idleWorkers: 0, busyWorkers: 40 },
      group: group({ nodes: nodes(40, { kind: 'spot', state: 'booting', readyAtSeconds: 420 }) }),
    },
    offload: [0, 0],
    spot: [1, 40],
  },
  {
    name: 'boot nearly done: frames are offloaded for nodes ready within the lookahead',
    input: {
      nowSeconds: 350,
      jobs: [job({ queuedFrames: 4000, renderingFrames: 40 })],
      farm: { idleWorkers: 0, busyWorkers: 40 },
      group: group({ nodes: nodes(20, { kind: 'spot', state: 'booting', readyAtSeconds: 420 }) }),
    },
    offload: [20, 20],
    spot: [20, 40],
  },
  {
    name: 'budget reached: nodes stop at what the spend cap allows',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 6000 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group(),
      maxSpendPerHour: 1.4,
    },
    offload: [0, 0],
    spot: [10, 10],
    reason: /budget reached/,
  },
  {
    name: 'evictions: when spot loses more to evictions than it saves, dedicated nodes are chosen',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 3000 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group({ spotPricePerHour: 0.5, spotEvictionsPerNodeHour: 3 }),
    },
    offload: [0, 0],
    spot: [0, 0],
    dedicated: [11, 40],
  },
  {
    name: 'evictions: at the normal rate spot stays cheaper, sized with a frame of slack for a redo',
    input: {
      nowSeconds: 0,
      jobs: [job({ queuedFrames: 3000 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group({ spotEvictionsPerNodeHour: 0.5 }),
    },
    offload: [0, 0],
    spot: [12, 40],
    dedicated: [0, 0],
  },
  {
    name: 'recall: local workers free up and the farm now finishes the cloud-queued frames in time',
    input: {
      nowSeconds: 30_000,
      jobs: [job({ queuedFrames: 0, cloudQueuedFrames: 12, cloudRunningFrames: 4 })],
      farm: { idleWorkers: 20, busyWorkers: 20 },
      group: group({ nodes: nodes(4, { kind: 'spot', state: 'busy' }) }),
    },
    offload: [0, 0],
    recall: 12,
    spot: [4, 4], // busy nodes are never removed: they drain
  },
  {
    name: 'scale-in drains: idle nodes with nothing to do are released, busy ones kept',
    input: {
      nowSeconds: 30_000,
      jobs: [job({ queuedFrames: 0, cloudRunningFrames: 3 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group({
        nodes: [
          ...nodes(3, { kind: 'spot', state: 'busy' }),
          ...nodes(5, { kind: 'spot', state: 'idle', idleSinceSeconds: 29_000 }),
          ...nodes(2, { kind: 'spot', state: 'booting', readyAtSeconds: 30_400 }),
        ],
      }),
    },
    offload: [0, 0],
    spot: [3, 3],
    reason: /scale in/,
  },
  {
    name: 'scale-in: a node more than half booted is kept, one just requested is cancelled',
    input: {
      nowSeconds: 30_000,
      jobs: [job({ queuedFrames: 0 })],
      farm: { idleWorkers: 40, busyWorkers: 0 },
      group: group({
        nodes: [
          { kind: 'spot', state: 'booting', readyAtSeconds: 30_100 },
          { kind: 'spot', state: 'booting', readyAtSeconds: 30_400 },
        ],
      }),
    },
    offload: [0, 0],
    spot: [1, 1],
    reason: /scale in: 1 nodes/,
  },
];

describe('decideBurst', () => {
  it.each(cases)('$name', (c) => {
    // GIVEN the farm and cloud of the case
    // WHEN the policy decides
    const plan = decideBurst(c.input);
    // THEN offload, recall and targets are as expected
    const offloaded = sum(plan.offload);
    expect(offloaded).toBeGreaterThanOrEqual(c.offload[0]);
    expect(offloaded).toBeLessThanOrEqual(c.offload[1]);
    expect(sum(plan.recall)).toBe(c.recall ?? 0);
    const t = plan.targets[0]!;
    expect(t.capacityGroup).toBe(c.input.group.name);
    expect(t.spotNodes).toBeGreaterThanOrEqual(c.spot[0]);
    expect(t.spotNodes).toBeLessThanOrEqual(c.spot[1]);
    if (c.dedicated !== undefined) {
      expect(t.dedicatedNodes).toBeGreaterThanOrEqual(c.dedicated[0]);
      expect(t.dedicatedNodes).toBeLessThanOrEqual(c.dedicated[1]);
    }
    if (c.reason) expect(plan.reasons.join('\n')).toMatch(c.reason);
    expect(plan.projectedCostPerHour).toBeCloseTo(
      t.spotNodes * c.input.group.spotPricePerHour + t.dedicatedNodes * c.input.group.dedicatedPricePerHour,
    );
  });

  it('never offloads more frames than are queued, nor recalls more than wait in the cloud', () => {
    // GIVEN a saturated farm with many idle nodes and a job with 3 queued frames left
    const input: PolicyInput = {
      nowSeconds: 35_000,
      jobs: [job({ queuedFrames: 3, renderingFrames: 40 })],
      farm: { idleWorkers: 0, busyWorkers: 40 },
      group: group({ nodes: nodes(20, { kind: 'spot', state: 'idle', idleSinceSeconds: 35_000 }) }),
    };
    // WHEN the policy decides
    const plan = decideBurst(input);
    // THEN at most the 3 queued frames move
    expect(sum(plan.offload)).toBeLessThanOrEqual(3);
  });

  it('projects busy workers from when their frames started, when that is known', () => {
    // GIVEN 10 busy workers on 600 s frames (no spread), 60 queued, 3,600 s to the deadline,
    // and idle nodes that can take work now
    const at = (started?: number): PolicyInput => ({
      nowSeconds: 1000,
      jobs: [
        job({
          queuedFrames: 60,
          renderingFrames: 10,
          deadlineAtSeconds: 4600,
          frameSecondsStdev: 0,
          ...(started === undefined ? {} : { renderingStartedAtSeconds: Array<number>(10).fill(started) }),
        }),
      ],
      farm: { idleWorkers: 0, busyWorkers: 10 },
      group: group({ nodes: nodes(20, { kind: 'spot', state: 'idle', idleSinceSeconds: 0 }) }),
    });
    // WHEN the policy decides with frames nearly done, just started, or start unknown
    const nearlyDone = sum(decideBurst(at(410)).offload);
    const justStarted = sum(decideBurst(at(1000)).offload);
    const unknown = sum(decideBurst(at()).offload);
    // THEN workers 10 s from free fit five more frames each (10 late), workers 600 s from
    // free only four (20 late, so more nodes and more frames offloaded now), and without
    // start times busy workers count as half-way (300 s from free: five each)
    expect(nearlyDone).toBeGreaterThan(0);
    expect(justStarted).toBeGreaterThan(nearlyDone);
    expect(unknown).toBe(nearlyDone);
  });
});

describe('meanGivenAtLeast', () => {
  it.each([
    // mean, stdev, elapsed, expected
    [600, 0, 100, 600],
    [600, 0, 700, 700],
    [600, 60, 0, 600],
    [600, 60, 600, 600 + 60 * Math.sqrt(2 / Math.PI)], // half-normal mean above the mean
    [600, 60, 1200, 1200 + 60 / 10], // far tail: elapsed + stdev / a
  ])('a %p ± %p s frame that has run %p s lasts %p s on average', (mean, stdev, elapsed, expected) => {
    // GIVEN a normal frame time WHEN it has already lasted `elapsed` THEN its expected length is
    expect(meanGivenAtLeast(mean, stdev, elapsed)).toBeCloseTo(expected, 0);
  });
});
