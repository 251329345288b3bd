import { progressOf, type DeadlineJob, type DeadlineTask, type DeadlineWorker } from '../webservice';
import { chooseOffload, workerCanTake } from './offload';
import { farmReport, jobDeadline } from './report';

const job = (id: string, over: Partial<DeadlineJob> = {}): DeadlineJob =>
  ({
    id,
    name: id,
    priority: 50,
    group: '',
    pool: '',
    limits: [],
    extraInfo: {},
    submittedAt: new Date(1000),
    ...over,
  }) as DeadlineJob;
const tasks = (jobId: string, states: DeadlineTask['state'][]): DeadlineTask[] =>
  states.map(
    (state, taskId) => ({ jobId, taskId, state, frames: `${taskId + 1}-${taskId + 1}` }) as DeadlineTask,
  );
const worker = (
  name: string,
  state: DeadlineWorker['state'] = 'idle',
  groups: string[] = [],
  pools: string[] = [],
): DeadlineWorker => ({ name, state, groups, pools, jobId: '' }) as unknown as DeadlineWorker;

describe('chooseOffload', () => {
  const q = (n: number): DeadlineTask['state'][] => Array.from({ length: n }, () => 'queued' as const);
  // The plan decides how many (the burst policy has counted the idle workers); this picks
  // which: the highest queued task ids, the ones the farm would reach last.
  it.each<
    [
      string,
      DeadlineJob[],
      Record<string, DeadlineTask[]>,
      Record<string, number>,
      string[],
      Record<string, number[]>,
    ]
  >([
    ['the highest task ids go', [job('a')], { a: tasks('a', q(5)) }, { a: 2 }, [], { a: [3, 4] }],
    ['never more than are queued', [job('a')], { a: tasks('a', q(3)) }, { a: 5 }, [], { a: [0, 1, 2] }],
    [
      'each job its own count',
      [job('lo', { priority: 10 }), job('hi', { priority: 90 })],
      { lo: tasks('lo', q(2)), hi: tasks('hi', q(3)) },
      { lo: 1, hi: 2 },
      [],
      { lo: [1], hi: [1, 2] },
    ],
    [
      'excluded and non-queued tasks never go',
      [job('a')],
      { a: tasks('a', ['rendering', 'suspended', 'queued', 'queued']) },
      { a: 9 },
      ['a:3'],
      { a: [2] },
    ],
    ['nothing wanted, nothing chosen', [job('a')], { a: tasks('a', q(3)) }, {}, [], {}],
  ])('GIVEN %s WHEN chosen THEN the right tasks go', (_n, jobs, t, wanted, exclude, want) => {
    const got = chooseOffload({
      jobs,
      tasks: new Map(Object.entries(t)),
      wanted: new Map(Object.entries(wanted)),
      exclude: new Set(exclude),
    });
    expect(Object.fromEntries(got)).toEqual(want);
  });
});

describe('workerCanTake', () => {
  it.each([
    [[], [], job('a'), true],
    [['gpu'], [], job('a', { group: 'gpu' }), true],
    [[], [], job('a', { group: 'gpu' }), false],
    [[], ['p'], job('a', { pool: 'p' }), true],
  ])('GIVEN groups %j pools %j WHEN asked THEN %s', (groups, pools, j, want) => {
    expect(workerCanTake({ groups, pools }, j)).toBe(want);
  });
});

describe('jobDeadline', () => {
  const seen = new Date(5000);
  it.each([
    [
      'the ExtraInfo key wins',
      { SpillwayDeadline: '2030-01-01T00:00:00Z' },
      new Date(0),
      '2030-01-01T00:00:00.000Z',
    ],
    [
      'a bad ExtraInfo value falls back to the turnaround',
      { SpillwayDeadline: 'soon' },
      new Date(0),
      '1970-01-01T01:00:00.000Z',
    ],
    ['no submission date: first seen + turnaround', {}, undefined, '1970-01-01T01:00:05.000Z'],
  ])('GIVEN %s WHEN computed THEN %s', (_n, extraInfo, submittedAt, want) => {
    expect(jobDeadline({ extraInfo, submittedAt }, 3600, seen).toISOString()).toBe(want);
  });
});

describe('farmReport', () => {
  const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1) + s * 1000);
  it('GIVEN jobs, tasks and workers WHEN reported THEN counts are per state and per group', () => {
    const r = farmReport({
      source: 'deadline:t',
      now: new Date(0),
      jobs: [job('a', { priority: 120, pool: 'fx' })],
      tasks: new Map([['a', tasks('a', ['queued', 'queued', 'rendering', 'suspended', 'completed'])]]),
      workers: [
        worker('w1'),
        worker('w2', 'rendering'),
        worker('w3', 'offline'),
        worker('w4', 'idle', ['gpu']),
      ],
      offloaded: new Map([['a', 1]]),
      burstable: () => true,
      deadline: () => new Date(9),
    });
    expect(r.sourceKind).toBe('deadline');
    expect(r.jobs[0]).toMatchObject({
      name: 'a',
      pool: 'fx',
      priority: 100,
      queuedFrames: 2,
      renderingFrames: 1,
      offloadedFrames: 1,
      completedFrames: 1,
      burstable: true,
    });
    expect(r.workers).toEqual([
      { group: '', idle: 1, busy: 1, offline: 1 },
      { group: 'gpu', idle: 1, busy: 0 },
    ]);
  });

  it('GIVEN cloud workers of a worker-burst group WHEN reported THEN they and their tasks are reported apart from the farm workers', () => {
    const t = tasks('a', ['queued', 'rendering', 'rendering']).map((x, i) => ({
      ...x,
      worker: i === 1 ? 'Local-1' : i === 2 ? 'AZ-000001' : '',
    }));
    const r = farmReport({
      source: 'deadline:t',
      now: new Date(0),
      jobs: [job('a')],
      tasks: new Map([['a', t]]),
      workers: [worker('Local-1', 'rendering'), worker('AZ-000001', 'rendering'), worker('az-000002')],
      offloaded: new Map(),
      burstable: () => true,
      deadline: () => new Date(9),
      cloudWorkers: new Map([
        ['az-000001', 'cloud-workers'],
        ['az-000002', 'cloud-workers'],
      ]),
    });
    // THEN the farm's own worker is counted as the farm's, the cloud ones apart under their
    // group, and only the farm's own task is rendering
    expect(r.jobs[0]).toMatchObject({ queuedFrames: 1, renderingFrames: 1 });
    expect(r.jobs[0]!.rendering).toEqual([{ sourceTaskId: '1' }]);
    expect(r.workers).toEqual([
      { group: '', idle: 0, busy: 1 },
      { group: '', idle: 1, busy: 1, capacityGroup: 'cloud-workers' },
    ]);
  });

  it('GIVEN finished and rendering tasks WHEN reported THEN local frame times and rendering starts and progress', () => {
    // GIVEN 3 tasks rendered locally in 60, 80 and 100 s, one completed from the cloud (never
    // started by a worker), one the bridge still handles, and 2 rendering: one at 45 %, one
    // whose plugin reports 0 %
    const t = (taskId: number, state: DeadlineTask['state'], over: Partial<DeadlineTask> = {}) =>
      ({ jobId: 'a', taskId, state, frames: `${taskId}`, ...over }) as DeadlineTask;
    const r = farmReport({
      source: 'deadline:t',
      now: at(1000),
      jobs: [job('a')],
      tasks: new Map([
        [
          'a',
          [
            t(0, 'completed', { startedAt: at(0), completedAt: at(60) }),
            t(1, 'completed', { startedAt: at(0), completedAt: at(80) }),
            t(2, 'completed', { startedAt: at(100), completedAt: at(200) }),
            t(3, 'completed', { completedAt: at(300) }),
            t(4, 'completed', { startedAt: at(0), completedAt: at(900) }),
            t(5, 'rendering', { startedAt: at(950), progress: 0.45 }),
            t(6, 'rendering', { startedAt: at(990), progress: 0 }),
          ],
        ],
      ]),
      workers: [worker('w1', 'rendering'), worker('w2', 'rendering')],
      offloaded: new Map(),
      burstable: () => true,
      deadline: () => at(3600),
      bridgeTasks: new Set(['a:4']),
    });
    // THEN the local frame time is the three local renders', and the rendering frames say
    // when they started and, where the plugin reports it, how far they are
    expect(r.jobs[0]!.localFrameTime).toEqual({ meanMs: 80_000, stdevMs: 20_000, samples: 3 });
    expect(r.jobs[0]!.rendering).toEqual([
      { sourceTaskId: '5', startedAt: at(950), progress: 0.45 },
      { sourceTaskId: '6', startedAt: at(990) },
    ]);
  });
});

describe('progressOf', () => {
  it.each([
    ['45 %', 0.45],
    ['45.5%', 0.455],
    [100, 1],
    ['', undefined],
    ['n/a', undefined],
    ['150 %', undefined],
  ])('reads Prog %j as %p', (value, want) => {
    expect(progressOf(value)).toEqual(want);
  });
});
