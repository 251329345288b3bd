import type { FarmReport, PlanInput, PlannerGroup } from './planner';
import { simpleRule } from './simple-rule';

const deadline = new Date('2026-11-23T00:00:00Z');
const group: PlannerGroup = {
  name: 'default',
  maxDedicatedNodes: 2,
  maxSpotNodes: 4,
  slotsPerNode: 2,
  dedicatedPerHour: 1,
  spotPerHour: 0.25,
  currentDedicated: 0,
  currentSpot: 0,
  queuedInCloud: 0,
  runningInCloud: 0,
};

function input(
  report: Partial<FarmReport>,
  over: Partial<PlanInput> = {},
  g: Partial<PlannerGroup> = {},
): PlanInput {
  const r: FarmReport = { source: 's', observedAt: new Date(), jobs: [], workers: [], ...report };
  return {
    now: new Date(),
    report: r,
    allReports: [r],
    groups: [{ ...group, ...g }],
    defaultGroup: 'default',
    maxSpendPerHour: 0,
    cloudQueuedByJob: new Map(),
    ...over,
  };
}

const job = (id: string, queued: number, extra: object = {}) => ({
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

describe('simpleRule', () => {
  // GIVEN a farm state WHEN planned THEN offload, recall and targets follow the documented rule
  it.each<[string, PlanInput, { offload: number[]; recall: number[]; spot: number; dedicated: number }]>([
    [
      'idle farm: nothing moves',
      input({ jobs: [job('a', 3)], workers: [{ group: '', idle: 5, busy: 0 }] }),
      { offload: [], recall: [], spot: 0, dedicated: 0 },
    ],
    [
      'saturated farm: the overflow goes, spot first',
      input({ jobs: [job('a', 10)], workers: [{ group: '', idle: 2, busy: 8 }] }),
      { offload: [8], recall: [], spot: 4, dedicated: 0 },
    ],
    [
      'beyond spot: dedicated too',
      input({ jobs: [job('a', 13)], workers: [{ group: '', idle: 0, busy: 8 }] }),
      { offload: [12], recall: [], spot: 4, dedicated: 2 },
    ],
    [
      'no deadline: never worth cloud money',
      input({ jobs: [job('a', 10, { deadline: undefined })], workers: [] }),
      { offload: [], recall: [], spot: 0, dedicated: 0 },
    ],
    [
      'not burstable stays local',
      input({ jobs: [job('a', 10, { burstable: false })], workers: [] }),
      { offload: [], recall: [], spot: 0, dedicated: 0 },
    ],
    [
      'budget reached caps the nodes',
      input({ jobs: [job('a', 12)], workers: [] }, { maxSpendPerHour: 0.5 }),
      { offload: [12], recall: [], spot: 2, dedicated: 0 },
    ],
    [
      'local workers free up: recall queued cloud frames',
      input(
        { jobs: [job('a', 0)], workers: [{ group: '', idle: 3, busy: 0 }] },
        { cloudQueuedByJob: new Map([['a', 5]]) },
        { queuedInCloud: 5 },
      ),
      { offload: [], recall: [3], spot: 1, dedicated: 0 },
    ],
    [
      'boot in progress: running work keeps its nodes',
      input({ jobs: [job('a', 0)], workers: [] }, {}, { runningInCloud: 4, currentSpot: 2 }),
      { offload: [], recall: [], spot: 2, dedicated: 0 },
    ],
  ])('%s', (_what, planInput, expected) => {
    const plan = simpleRule(planInput);
    expect(plan.offload.map((o) => o.frameCount)).toEqual(expected.offload);
    expect(plan.recall.map((r) => r.frameCount)).toEqual(expected.recall);
    expect(plan.targets).toEqual([
      { capacityGroup: 'default', spot: expected.spot, dedicated: expected.dedicated },
    ]);
    expect(plan.projectedCostPerHour).toBeCloseTo(expected.spot * 0.25 + expected.dedicated * 1);
  });

  it('serves higher priority first when idle workers are few', () => {
    const plan = simpleRule(
      input({
        jobs: [job('low', 2, { priority: 10 }), job('high', 2, { priority: 90 })],
        workers: [{ group: '', idle: 2, busy: 0 }],
      }),
    );
    expect(plan.offload).toEqual([{ sourceJobId: 'low', frameCount: 2, capacityGroup: 'default' }]);
  });
});
