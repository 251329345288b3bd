import { jobFromRaw, progressOf, taskFromRaw, workerFromRaw, type RawTask } from '../webservice';
import { farmReport, localFrameTime, renderingFrames } from './report';

/** A task as Deadline's Web Service sends it. */
const raw = (id: number, stat: number, over: Partial<RawTask> = {}): RawTask => ({
  TaskID: id,
  Frames: String(id + 1),
  Stat: stat,
  ...over,
});
const QUEUED = 2;
const RENDERING = 4;
const COMPLETED = 5;

describe('progressOf', () => {
  it.each<[unknown, number | undefined]>([
    ['45 %', 0.45],
    ['45.5%', 0.455],
    [45, 0.45],
    ['0 %', 0],
    ['', undefined],
    ['n/a', undefined],
    ['120 %', undefined],
  ])('GIVEN Prog %p THEN %p', (prog, want) => {
    expect(progressOf(prog)).toBe(want);
  });
});

describe('the Deadline farm report', () => {
  // GIVEN a job with three tasks finished on local workers (10, 12 and 14 s from StartRen to
  // Comp), one completed from the cloud (handled by the bridge), two rendering (one at 40 %,
  // one whose plugin reports no progress) and two queued
  const tasks = [
    raw(0, COMPLETED, { StartRen: '2026-12-03T10:00:00Z', Comp: '2026-12-03T10:00:10Z' }),
    raw(1, COMPLETED, { StartRen: '2026-12-03T10:00:00Z', Comp: '2026-12-03T10:00:12Z' }),
    raw(2, COMPLETED, { Start: '2026-12-03T10:00:10Z', Comp: '2026-12-03T10:00:24Z' }),
    raw(3, COMPLETED, { StartRen: '2026-12-03T10:00:00Z', Comp: '2026-12-03T10:05:00Z' }),
    raw(4, RENDERING, { StartRen: '2026-12-03T10:00:20Z', Prog: '40 %' }),
    raw(5, RENDERING, { StartRen: '2026-12-03T10:00:25Z', Prog: '0 %' }),
    raw(6, QUEUED),
    raw(7, QUEUED),
  ].map((t) => taskFromRaw(t, 'j1'));
  const bridgeTasks = new Set(['j1:3']);

  it('WHEN timing finished tasks THEN only local renders count, start to completion', () => {
    expect(localFrameTime(tasks, bridgeTasks)).toEqual({ meanMs: 12_000, stdevMs: 2000, samples: 3 });
    expect(localFrameTime(tasks.filter((t) => t.state !== 'completed'))).toBeUndefined();
  });

  it('WHEN listing rendering tasks THEN each has its start, and its progress only where the plugin reports one', () => {
    expect(renderingFrames(tasks)).toEqual([
      { worker: '', sourceTaskId: '4', startedAt: new Date('2026-12-03T10:00:20Z'), progress: 0.4 },
      { worker: '', sourceTaskId: '5', startedAt: new Date('2026-12-03T10:00:25Z') },
    ]);
  });

  it('WHEN reported THEN the job carries counts, frame times and rendering tasks, workers their states', () => {
    const job = jobFromRaw({
      _id: 'j1',
      Props: { Name: 'shot-10', Pri: 150, Grp: 'lighting', Pool: 'gpu' },
      Plug: 'CommandLine',
      Stat: 1,
    });
    const report = farmReport({
      source: 'deadline:studio',
      now: new Date('2026-12-03T10:00:30Z'),
      jobs: [job],
      tasks: new Map([['j1', tasks]]),
      workers: [
        workerFromRaw({ Name: 'w1', Stat: 2, Grps: 'lighting' }),
        workerFromRaw({ Name: 'w2', Stat: 1, Grps: 'lighting' }),
        workerFromRaw({ Name: 'w3', Stat: 3, Grps: 'lighting' }),
      ],
      offloaded: new Map([['j1', 1]]),
      burstable: () => true,
      deadline: () => new Date('2026-12-03T12:00:00Z'),
      capacityGroup: () => 'batch-east',
      bridgeTasks,
    });
    expect(report.sourceKind).toBe('deadline');
    expect(report.jobs).toEqual([
      {
        sourceJobId: 'j1',
        name: 'shot-10',
        priority: 100,
        group: 'lighting',
        pool: 'gpu',
        queuedFrames: 2,
        renderingFrames: 2,
        offloadedFrames: 1,
        completedFrames: 4,
        deadline: new Date('2026-12-03T12:00:00Z'),
        localFrameTime: { meanMs: 12_000, stdevMs: 2000, samples: 3 },
        rendering: renderingFrames(tasks).map(({ worker: _worker, ...f }) => f),
        burstable: true,
        capacityGroup: 'batch-east',
      },
    ]);
    expect(report.workers).toEqual([{ group: 'lighting', idle: 1, busy: 1, offline: 1 }]);
  });
});
