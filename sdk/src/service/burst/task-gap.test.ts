import type { FarmReport, ReportedJob } from '../../model/burst';
import { TASK_GAP_MIN_TASKS, TaskGapLearner } from './task-gap';

const T0 = Date.UTC(2026, 0, 1);

/** One report of a 2-worker farm at `s` seconds, each job `[id, queued, finished local tasks, mean frame s]`. */
const report = (s: number, jobs: [string, number, number, number][], workers = 2): FarmReport => ({
  source: 'deadline:test',
  observedAt: new Date(T0 + s * 1000),
  jobs: jobs.map(([id, queued, done, mean]): ReportedJob => ({
    sourceJobId: id,
    priority: 50,
    group: '',
    queuedFrames: queued,
    renderingFrames: 0,
    offloadedFrames: 0,
    burstable: true,
    ...(done > 0 ? { localFrameTime: { meanMs: mean * 1000, stdevMs: 0, samples: done } } : {}),
  })),
  workers: [{ group: '', idle: 0, busy: workers }],
});

describe('TaskGapLearner', () => {
  // 2 workers, 1.7 s frames, a 0.3 s gap: a task every 2 s per worker, so 10 tasks in 10 s.
  const steady = Array.from({ length: 6 }, (_, i) => report(i * 2, [['a', 20, 2 * i, 1.7]]));
  it.each([
    { name: 'steady farm: 0.3 s between tasks', reports: steady, gap: 0.3, tasks: 10 },
    {
      name: 'no gap: frame times fill every worker-second',
      reports: Array.from({ length: 6 }, (_, i) => report(i * 2, [['a', 20, 2 * i, 2]])),
      gap: 0,
      tasks: 10,
    },
    {
      name: 'two jobs, each task counted at its own mean',
      // 4 s per interval x 2 workers = 8 worker-s: one 3.5 s task and two 1.5 s tasks -> 0.5 s each
      reports: Array.from({ length: 5 }, (_, i) =>
        report(i * 4, [
          ['a', 9, i, 3.5],
          ['b', 9, 2 * i, 1.5],
        ]),
      ),
      gap: 0.5,
      tasks: 12,
    },
    {
      name: 'intervals without queued work at both ends are not used (workers may have been idle)',
      reports: [
        ...steady,
        report(12, [['a', 0, 12, 1.7]]),
        report(30, [['a', 0, 13, 1.7]]), // idle for most of 18 s: not a gap
      ],
      gap: 0.3,
      tasks: 10,
    },
    {
      name: 'a job that left the report (finished) ends the interval unmeasured',
      reports: [...steady, report(12, [['b', 5, 0, 1]])],
      gap: 0.3,
      tasks: 10,
    },
    {
      name: 'an older report than the last is ignored',
      reports: [...steady, report(4, [['a', 20, 0, 1.7]])],
      gap: 0.3,
      tasks: 10,
    },
  ])('$name', ({ reports, gap, tasks }) => {
    // GIVEN the reports, in order
    const learner = new TaskGapLearner();
    for (const r of reports) learner.observe(r);
    // WHEN the gap is read
    const seen = learner.gap('deadline:test');
    // THEN it is what the farm spent between tasks
    expect(seen?.tasks).toBe(tasks);
    expect(seen?.seconds).toBeCloseTo(gap, 6);
  });

  it(`says nothing before ${TASK_GAP_MIN_TASKS} tasks were measured, nor for another source`, () => {
    const learner = new TaskGapLearner();
    for (const r of steady.slice(0, 4)) learner.observe(r); // 6 tasks
    expect(learner.gap('deadline:test')).toBeUndefined();
    learner.observe(steady[4]!);
    expect(learner.gap('deadline:test')?.tasks).toBe(8);
    expect(learner.gap('deadline:other')).toBeUndefined();
  });
});
