/**
 * The farm as the service's `ReportFarmState` takes it, and each job's deadline for the
 * policy. Pure. One task counts as one frame.
 */
import {
  buildFarmReport,
  jobDeadline as deadlineRule,
  type FinishedFrame,
  type WorkerFrame,
} from '@spillway/bridge-kit';
import { frameTimeStats, type FarmReport, type FrameTimeStats } from '@spillway/sdk';
import type { DeadlineJob, DeadlineTask, DeadlineWorker } from '../webservice';

/** The ExtraInfo key a job may carry its deadline in (ISO-8601, or epoch seconds). */
export const DEADLINE_EXTRA_INFO_KEY = 'SpillwayDeadline';

/**
 * A job's deadline for the policy: its `SpillwayDeadline` ExtraInfo value when that is a
 * valid time, else its submission time (or `firstSeen`) plus the turnaround (the bridge
 * kit's rule).
 */
export function jobDeadline(
  job: Pick<DeadlineJob, 'extraInfo' | 'submittedAt'>,
  turnaroundSeconds: number,
  firstSeen: Date,
  key = DEADLINE_EXTRA_INFO_KEY,
): Date {
  return deadlineRule({
    carried: job.extraInfo[key],
    ...(job.submittedAt ? { submittedAt: job.submittedAt } : {}),
    firstSeen,
    turnaroundSeconds,
  });
}

/** The report group of a worker: `''` (any) unless it belongs to named groups only. */
export function reportGroupOf(worker: Pick<DeadlineWorker, 'groups'>): string {
  const named = worker.groups.filter((g) => g.toLowerCase() !== 'none');
  return named.length === 0 || worker.groups.some((g) => g.toLowerCase() === 'none') ? '' : named[0]!;
}

/** What `farmReport` is made from. */
export interface ReportInput {
  readonly source: string;
  readonly now: Date;
  readonly jobs: readonly DeadlineJob[];
  readonly tasks: ReadonlyMap<string, readonly DeadlineTask[]>;
  readonly workers: readonly DeadlineWorker[];
  /** Tasks of each job in the cloud now. */
  readonly offloaded: ReadonlyMap<string, number>;
  /** Whether a job can run in the cloud (supported plugin, known output location). */
  readonly burstable: (job: DeadlineJob) => boolean;
  readonly deadline: (job: DeadlineJob) => Date;
  /** Capacity group of a job. @default the service's default */
  readonly capacityGroup?: (job: DeadlineJob) => string | undefined;
  /**
   * `jobId:taskId` of tasks the bridge handles (in the cloud, or back from it): their times
   * are not local render times.
   * @default none
   */
  readonly bridgeTasks?: ReadonlySet<string>;
  /**
   * Worker burst: the cloud workers that joined the farm, worker name (lower case) to its
   * worker-burst group. They are not the farm's own: they are reported apart (`capacityGroup`),
   * and the tasks they render or rendered are left out of the jobs' rendering frames and local
   * frame times (the service counts them as the group's nodes). @default none
   */
  readonly cloudWorkers?: ReadonlyMap<string, string>;
}

/**
 * A job's tasks that finished on a worker: who rendered each and how long it took (render
 * start to completion); tasks completed from the cloud (never started by a worker, or
 * handled by the bridge) are left out.
 */
export function finishedTasks(
  tasks: readonly DeadlineTask[],
  bridgeTasks: ReadonlySet<string> = new Set(),
): FinishedFrame[] {
  return tasks
    .filter(
      (t) =>
        t.state === 'completed' && t.startedAt && t.completedAt && !bridgeTasks.has(`${t.jobId}:${t.taskId}`),
    )
    .map((t) => ({ worker: t.worker, seconds: (t.completedAt!.getTime() - t.startedAt!.getTime()) / 1000 }))
    .filter((f) => f.seconds > 0);
}

/** The render times of a job's tasks that finished on workers (`finishedTasks`). */
export function localFrameTime(
  tasks: readonly DeadlineTask[],
  bridgeTasks: ReadonlySet<string> = new Set(),
): FrameTimeStats | undefined {
  return frameTimeStats(finishedTasks(tasks, bridgeTasks).map((f) => f.seconds));
}

/**
 * A job's tasks rendering on workers: when each started and, where the plugin reports
 * it (`Prog` above 0 %), how far it is. Deadline reports 0 % for plugins that never report
 * progress (CommandLine), so 0 % reads as "not reported".
 */
export function renderingFrames(tasks: readonly DeadlineTask[]): WorkerFrame[] {
  return tasks
    .filter((t) => t.state === 'rendering')
    .map((t) => ({
      worker: t.worker,
      sourceTaskId: String(t.taskId),
      ...(t.startedAt ? { startedAt: t.startedAt } : {}),
      ...(t.progress !== undefined && t.progress > 0 ? { progress: t.progress } : {}),
    }));
}

/**
 * The farm as the service's `ReportFarmState` takes it (the bridge kit's `buildFarmReport`);
 * one task counts as one frame, one worker as one slot.
 */
export function farmReport(input: ReportInput): FarmReport {
  return buildFarmReport({
    source: input.source,
    sourceKind: 'deadline',
    now: input.now,
    ...(input.cloudWorkers ? { cloudWorkers: input.cloudWorkers } : {}),
    workers: input.workers.map((w) => ({
      name: w.name,
      group: reportGroupOf(w),
      idle: w.state === 'idle' ? 1 : 0,
      busy: w.state === 'rendering' || w.state === 'startingJob' ? 1 : 0,
      offline: w.state === 'idle' || w.state === 'rendering' || w.state === 'startingJob' ? 0 : 1,
    })),
    jobs: input.jobs.map((job) => {
      const tasks = input.tasks.get(job.id) ?? [];
      const capacityGroup = input.capacityGroup?.(job);
      return {
        sourceJobId: job.id,
        name: job.name,
        priority: Math.max(0, Math.min(100, Math.round(job.priority))),
        group: job.group,
        ...(job.pool ? { pool: job.pool } : {}),
        queuedFrames: tasks.filter((t) => t.state === 'queued').length,
        offloadedFrames: input.offloaded.get(job.id) ?? 0,
        completedFrames: tasks.filter((t) => t.state === 'completed').length,
        ...(job.submittedAt ? { submittedAt: job.submittedAt } : {}),
        deadline: input.deadline(job),
        rendering: renderingFrames(tasks),
        finished: finishedTasks(tasks, input.bridgeTasks),
        burstable: input.burstable(job),
        ...(capacityGroup ? { capacityGroup } : {}),
      };
    }),
  });
}
