/**
 * A farm's per-task overhead, learned from its reports: the time between a worker finishing
 * a task and starting its next (the render manager's dispatch, the worker's poll, the
 * renderer's start-up before the task's own start time). A job's reported frame time is its
 * tasks' start-to-completion; a worker also spends this gap on every task, so a projection
 * from frame times alone finishes too early (the demo's 24 × 1.7 s frames on 2 workers ran
 * 1–2 s longer than their frame times add up to).
 *
 * Measured over report intervals during which the farm had work queued at both ends (every
 * worker that finished a task could start another): every local worker-second is spent
 * rendering or between tasks, so over many intervals
 * gap = (Σ workers × interval − Σ tasks finished × their job's mean frame time) ÷ Σ tasks
 * finished. Tasks finished are the increase of each job's local frame-time samples (tasks
 * that finished on a local worker). No I/O: the burst manager feeds it each report.
 */
import { localWorkers, type FarmReport } from '../../model/burst';

/** Local tasks finished in saturated intervals before the gap is used. */
export const TASK_GAP_MIN_TASKS = 8;

/** The learned gap of one farm. */
export interface TaskGap {
  /** Seconds between a worker finishing a task and starting its next (0 or more). */
  readonly seconds: number;
  /** Local tasks it was measured over. */
  readonly tasks: number;
}

interface SourceData {
  /** The previous report: when, whether work was queued, each job's finished local frames. */
  last?: { at: number; queued: boolean; done: Map<string, number> };
  workerSeconds: number;
  tasks: number;
  frameSeconds: number;
}

/** Learns each reporting farm's inter-task gap from its successive reports. */
export class TaskGapLearner {
  private readonly sources = new Map<string, SourceData>();

  /** Feeds one report (in the order they arrive; an older one than the last is ignored). */
  observe(report: FarmReport): void {
    const d = this.sources.get(report.source) ?? { workerSeconds: 0, tasks: 0, frameSeconds: 0 };
    this.sources.set(report.source, d);
    const at = report.observedAt.getTime();
    if (d.last && at <= d.last.at) return;
    const queued = report.jobs.some((j) => j.queuedFrames > 0);
    const done = new Map<string, number>();
    for (const j of report.jobs) done.set(j.sourceJobId, j.localFrameTime?.samples ?? 0);
    const prev = d.last;
    d.last = { at, queued, done };
    if (!prev || !prev.queued || !queued) return;
    // A job that left the report (finished) took its last tasks with it: not measurable.
    for (const id of prev.done.keys()) if (!done.has(id)) return;
    const { idle, busy } = localWorkers(report);
    let tasks = 0;
    let frameSeconds = 0;
    for (const j of report.jobs) {
      const finished = (j.localFrameTime?.samples ?? 0) - (prev.done.get(j.sourceJobId) ?? 0);
      if (finished <= 0) continue;
      // A job whose frame time is not known cannot say how much of the interval rendered:
      // the interval is not used.
      if (!j.localFrameTime || !(j.localFrameTime.meanMs > 0)) return;
      tasks += finished;
      frameSeconds += (finished * j.localFrameTime.meanMs) / 1000;
    }
    d.workerSeconds += ((idle + busy) * (at - prev.at)) / 1000;
    d.tasks += tasks;
    d.frameSeconds += frameSeconds;
  }

  /** The farm's gap, once `TASK_GAP_MIN_TASKS` local tasks were measured; else undefined. */
  gap(source: string): TaskGap | undefined {
    const d = this.sources.get(source);
    if (!d || d.tasks < TASK_GAP_MIN_TASKS) return undefined;
    return { seconds: Math.max(0, (d.workerSeconds - d.frameSeconds) / d.tasks), tasks: d.tasks };
  }
}
