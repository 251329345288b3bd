import type { ReportedJob } from '../model/burst';
import type { CloudFrames, PlanBurstInput, PolicyCapacityGroup } from './burst-policy';
import { greedyPlan } from './greedy';

const deadline = new Date('2026-11-23T00:00:00Z');
const group: PolicyCapacityGroup = {
  name: 'default',
  maxNodes: 6,
  maxDedicatedNodes: 2,
  maxSpotNodes: 4,
  slotsPerNode: 2,
  nodeBootSeconds: 300,
  cloudFrameTimeRatio: 1,
  transferSecondsPerFrame: 0,
  dedicatedPricePerHour: 1,
  spotPricePerHour: 0.25,
  spotEvictionsPerNodeHour: 0,
  billingGranularitySeconds: 60,
  nodes: [],
};

function input(
  jobs: readonly ReportedJob[],
  idle: number,
  over: Partial<PlanBurstInput> = {},
  cloud: Record<string, CloudFrames> = {},
): PlanBurstInput {
  return {
    now: new Date('2026-11-22T12:00:00Z'),
    farms: [
      {
        report: { source: 's', observedAt: new Date(), jobs, workers: [{ group: '', idle, busy: 8 }] },
        cloud: new Map(Object.entries(cloud)),
      },
    ],
    groups: [group],
    defaultGroup: 'default',
    ...over,
  };
}

const job = (id: string, queued: number, extra: Partial<ReportedJob> = {}): ReportedJob => ({
  sourceJobId: id,
  priority: 50,
  group: '',
  queuedFrames: queued,
  renderingFrames: 0,
  offloadedFrames: 0,
  burstable: true,
  deadline,
  ...extra,
});

describe('greedyPlan (the named baseline, planner: greedy)', () => {
  // GIVEN a farm state WHEN planned THEN offload, recall and targets follow the documented rule
  it.each<[string, PlanBurstInput, { offload: number[]; recall: number[]; spot: number; dedicated: number }]>(
    [
      [
        'idle farm: nothing moves',
        input([job('a', 3)], 5),
        { offload: [], recall: [], spot: 0, dedicated: 0 },
      ],
      [
        'saturated farm: the overflow goes, spot first',
        input([job('a', 10)], 2),
        { offload: [8], recall: [], spot: 4, dedicated: 0 },
      ],
      [
        'beyond spot: dedicated too',
        input([job('a', 13)], 0),
        { offload: [12], recall: [], spot: 4, dedicated: 2 },
      ],
      [
        'no deadline: never worth cloud money',
        input([job('a', 10, { deadline: undefined })], 0),
        { offload: [], recall: [], spot: 0, dedicated: 0 },
      ],
      [
        'not burstable stays local',
        input([job('a', 10, { burstable: false })], 0),
        { offload: [], recall: [], spot: 0, dedicated: 0 },
      ],
      [
        'budget reached caps the nodes',
        input([job('a', 12)], 0, { maxSpendPerHour: 0.5 }),
        { offload: [12], recall: [], spot: 2, dedicated: 0 },
      ],
      [
        'local workers free up: recall queued cloud frames',
        input([job('a', 0, { offloadedFrames: 5 })], 3, {}, { a: { queued: 5, running: 0 } }),
        { offload: [], recall: [3], spot: 1, dedicated: 0 },
      ],
      [
        'running cloud work keeps its nodes',
        input([job('a', 0, { offloadedFrames: 4 })], 0, {}, { a: { queued: 0, running: 4 } }),
        { offload: [], recall: [], spot: 2, dedicated: 0 },
      ],
    ],
  )('%s', (_what, planInput, expected) => {
    const plan = greedyPlan(planInput);
    expect(plan.offload.map((o) => o.frameCount)).toEqual(expected.offload);
    expect(plan.recall.map((r) => r.frameCount)).toEqual(expected.recall);
    expect(
      plan.targets.map((t) => ({ g: t.capacityGroup, spot: t.spotNodes, dedicated: t.dedicatedNodes })),
    ).toEqual([{ g: 'default', spot: expected.spot, dedicated: expected.dedicated }]);
    expect(plan.projectedCostPerHour).toBeCloseTo(expected.spot * 0.25 + expected.dedicated * 1);
    expect(plan.jobs).toHaveLength(planInput.farms[0]!.report.jobs.length);
  });

  it('serves higher priority first when idle workers are few', () => {
    const plan = greedyPlan(input([job('low', 2, { priority: 10 }), job('high', 2, { priority: 90 })], 2));
    expect(plan.offload).toEqual([{ sourceJobId: 'low', frameCount: 2, capacityGroup: 'default' }]);
    expect(plan.jobs.find((j) => j.sourceJobId === 'high')!.reason).toBe(
      'idle local workers take its queued frames',
    );
  });

  it('offloads a job the farm would finish in time: what the policy exists to avoid', () => {
    // GIVEN 24 frames due in 3 hours on a saturated 2-worker farm
    const plan = greedyPlan(input([job('a', 22, { deadline: new Date('2026-11-22T15:00:00Z') })], 0));
    // THEN the greedy rule sends the overflow anyway (the burst policy sends none: see burst-policy.test.ts)
    expect(plan.offload.map((o) => o.frameCount)).toEqual([12]);
  });
});
