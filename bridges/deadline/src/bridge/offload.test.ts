import type { DeadlineJob, DeadlineTask, DeadlineWorker } from '../webservice';
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
  it.each<
    [
      string,
      DeadlineJob[],
      Record<string, DeadlineTask[]>,
      DeadlineWorker[],
      Record<string, number>,
      string[],
      Record<string, number[]>,
    ]
  >([
    [
      'no idle worker: the highest task ids go',
      [job('a')],
      { a: tasks('a', q(5)) },
      [worker('w1', 'rendering')],
      { a: 2 },
      [],
      { a: [3, 4] },
    ],
    [
      'one idle worker keeps the lowest task local',
      [job('a')],
      { a: tasks('a', q(3)) },
      [worker('w1')],
      { a: 5 },
      [],
      { a: [1, 2] },
    ],
    [
      'an idle worker of another group does not count',
      [job('a', { group: 'gpu' })],
      { a: tasks('a', q(2)) },
      [worker('w1', 'idle', ['cpu'])],
      { a: 2 },
      [],
      { a: [0, 1] },
    ],
    [
      'an idle worker outside the pool does not count',
      [job('a', { pool: 'p1' })],
      { a: tasks('a', q(2)) },
      [worker('w1', 'idle', [], ['p2'])],
      { a: 2 },
      [],
      { a: [0, 1] },
    ],
    [
      'a full limit blocks local workers',
      [job('a', { limits: ['lic'] })],
      { a: tasks('a', q(2)) },
      [worker('w1')],
      { a: 2 },
      [],
      { a: [0, 1] },
    ],
    [
      'higher priority takes the idle worker first',
      [job('lo', { priority: 10 }), job('hi', { priority: 90 })],
      { lo: tasks('lo', q(1)), hi: tasks('hi', q(1)) },
      [worker('w1')],
      { lo: 1, hi: 1 },
      [],
      { lo: [0] },
    ],
    [
      'excluded and non-queued tasks never go',
      [job('a')],
      { a: tasks('a', ['rendering', 'suspended', 'queued', 'queued']) },
      [],
      { a: 9 },
      ['a:3'],
      { a: [2] },
    ],
    ['nothing wanted, nothing chosen', [job('a')], { a: tasks('a', q(3)) }, [], {}, [], {}],
  ])('GIVEN %s WHEN chosen THEN the right tasks go', (_n, jobs, t, workers, wanted, exclude, want) => {
    const got = chooseOffload({
      jobs,
      tasks: new Map(Object.entries(t)),
      workers,
      limits: [{ name: 'lic', limit: 1, inUse: 1 }],
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
  it('GIVEN jobs, tasks and workers WHEN reported THEN counts are per state and per group', () => {
    const r = farmReport({
      source: 'deadline:t',
      now: new Date(0),
      jobs: [job('a', { priority: 120 })],
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
    expect(r.jobs[0]).toMatchObject({
      priority: 100,
      queuedFrames: 2,
      renderingFrames: 1,
      offloadedFrames: 1,
      burstable: true,
    });
    expect(r.workers).toEqual([
      { group: '', idle: 1, busy: 1 },
      { group: 'gpu', idle: 1, busy: 0 },
    ]);
  });
});
