import type { CapacityNodeInfo } from '@spillway/sdk';
import { buildFarmReport, cloudWorkersOf, type ReportJobInput } from './report';

const job = (over: Partial<ReportJobInput> = {}): ReportJobInput => ({
  sourceJobId: 'j1',
  priority: 50,
  group: 'lighting',
  queuedFrames: 3,
  offloadedFrames: 0,
  burstable: true,
  ...over,
});

describe('buildFarmReport', () => {
  const cloudWorkers = new Map([['cloud-0', 'workers']]);

  it.each<
    [string, Partial<ReportJobInput>, { renderingFrames: number; rendering?: string[]; meanMs?: number }]
  >([
    ['no frames listed, no count', {}, { renderingFrames: 0 }],
    ['a count without a list (unknown starts)', { renderingFrames: 2 }, { renderingFrames: 2 }],
    [
      'frames on a local and a cloud worker',
      {
        rendering: [
          { worker: 'local-1', sourceTaskId: 'a' },
          { worker: 'Cloud-0', sourceTaskId: 'b' },
        ],
      },
      { renderingFrames: 1, rendering: ['a'] },
    ],
    [
      "finished frames: the cloud worker's and zero-length ones left out",
      {
        finished: [
          { worker: 'local-1', seconds: 10 },
          { worker: 'cloud-0', seconds: 50 },
          { worker: 'local-2', seconds: 0 },
        ],
      },
      { renderingFrames: 0, meanMs: 10_000 },
    ],
  ])("GIVEN %s THEN the job reports only the farm's own", (_what, over, want) => {
    const [reported] = buildFarmReport({
      source: 's',
      sourceKind: 'deadline',
      now: new Date(0),
      jobs: [job(over)],
      workers: [],
      cloudWorkers,
    }).jobs;
    expect(reported!.renderingFrames).toBe(want.renderingFrames);
    expect(reported!.rendering?.map((f) => f.sourceTaskId)).toEqual(want.rendering);
    expect(reported!.localFrameTime?.meanMs).toBe(want.meanMs);
    expect(reported).not.toHaveProperty('finished');
  });

  it('GIVEN workers of two groups and a cloud worker THEN slots add up by group, the cloud worker apart', () => {
    const report = buildFarmReport({
      source: 's',
      sourceKind: 'opencue',
      now: new Date(0),
      jobs: [],
      workers: [
        { name: 'local-1', group: 'general', idle: 2, busy: 1 },
        { name: 'local-2', group: 'general', idle: 0, busy: 0, offline: 4 },
        { name: 'gpu-1', group: 'gpu', idle: 1, busy: 0 },
        { name: 'CLOUD-0', group: 'general', idle: 0, busy: 1 },
      ],
      cloudWorkers,
    });
    expect(report.workers).toEqual([
      { group: 'general', idle: 2, busy: 1, offline: 4 },
      { group: 'gpu', idle: 1, busy: 0 },
      { group: 'general', idle: 0, busy: 1, capacityGroup: 'workers' },
    ]);
  });
});

describe('cloudWorkersOf', () => {
  it("GIVEN one group listed and one the service cannot list THEN the listed group's workers, the other said once", async () => {
    const unlisted: string[] = [];
    const nodes = (group: string): Promise<CapacityNodeInfo[]> =>
      group === 'a'
        ? Promise.resolve([
            { workerName: 'Cloud-0' } as CapacityNodeInfo,
            { workerName: '' } as CapacityNodeInfo,
          ])
        : Promise.reject(new Error('unavailable'));
    const members = await cloudWorkersOf({ nodes }, ['a', 'b'], {
      onUnlisted: (group, err) => unlisted.push(`${group}: ${err.message}`),
    });
    expect([...members]).toEqual([['cloud-0', 'a']]);
    expect(unlisted).toEqual(['b: unavailable']);
  });
});
