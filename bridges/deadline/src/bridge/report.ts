/**
 * The farm as the service's `ReportFarmState` takes it, and each job's deadline for the
 * policy. Pure. One task counts as one frame.
 */
import { jobDeadline as deadlineRule } from '@spillway/bridge-kit';
import { frameTimeStats, type FarmReport, type FrameTimeStats, type RenderingFrame } from '@spillway/sdk';
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
 * The render times of a job's tasks that finished on local workers: from render start to
 * completion; tasks completed from the cloud (never started by a worker, or handled by the
 * bridge) do not count.
 */
export function localFrameTime(
  tasks: readonly DeadlineTask[],
  bridgeTasks: ReadonlySet<string> = new Set(),
): FrameTimeStats | undefined {
  const seconds = tasks
    .filter(
      (t) =>
        t.state === 'completed' && t.startedAt && t.completedAt && !bridgeTasks.has(`${t.jobId}:${t.taskId}`),
    )
    .map((t) => (t.completedAt!.getTime() - t.startedAt!.getTime()) / 1000)
    .filter((x) => x > 0);
  return frameTimeStats(seconds);
}

/**
 * A job's tasks rendering on local workers: when each started and, where the plugin reports
 * it (`Prog` above 0 %), how far it is. Deadline reports 0 % for plugins that never report
 * progress (CommandLine), so 0 % reads as "not reported".
 */
export function renderingFrames(tasks: readonly DeadlineTask[]): RenderingFrame[] {
  return tasks
    .filter((t) => t.state === 'rendering')
    .map((t) => ({
      sourceTaskId: String(t.taskId),
      ...(t.startedAt ? { startedAt: t.startedAt } : {}),
      ...(t.progress !== undefined && t.progress > 0 ? { progress: t.progress } : {}),
    }));
}

/** The farm as the service's `ReportFarmState` takes it; one task counts as one frame. */
export function farmReport(input: ReportInput): FarmReport {
  const cloud = input.cloudWorkers ?? new Map<string, string>();
  const onCloud = (t: DeadlineTask): boolean => cloud.size > 0 && cloud.has(t.worker.toLowerCase());
  const workers = new Map<
    string,
    { group: string; capacityGroup?: string; idle: number; busy: number; offline: number }
  >();
  for (const w of input.workers) {
    const group = reportGroupOf(w);
    const capacityGroup = cloud.get(w.name.toLowerCase());
    const key = `${group}\0${capacityGroup ?? ''}`;
    const c = workers.get(key) ?? {
      group,
      ...(capacityGroup ? { capacityGroup } : {}),
      idle: 0,
      busy: 0,
      offline: 0,
    };
    if (w.state === 'idle') c.idle += 1;
    else if (w.state === 'rendering' || w.state === 'startingJob') c.busy += 1;
    else c.offline += 1;
    workers.set(key, c);
  }
  return {
    source: input.source,
    sourceKind: 'deadline',
    observedAt: input.now,
    jobs: input.jobs.map((job) => {
      const tasks = input.tasks.get(job.id) ?? [];
      const farmOwn = tasks.filter((t) => !onCloud(t));
      const local = localFrameTime(farmOwn, input.bridgeTasks);
      const rendering = renderingFrames(farmOwn);
      return {
        sourceJobId: job.id,
        name: job.name,
        priority: Math.max(0, Math.min(100, Math.round(job.priority))),
        group: job.group,
        ...(job.pool ? { pool: job.pool } : {}),
        queuedFrames: tasks.filter((t) => t.state === 'queued').length,
        renderingFrames: rendering.length,
        offloadedFrames: input.offloaded.get(job.id) ?? 0,
        completedFrames: tasks.filter((t) => t.state === 'completed').length,
        ...(job.submittedAt ? { submittedAt: job.submittedAt } : {}),
        deadline: input.deadline(job),
        ...(local ? { localFrameTime: local } : {}),
        rendering,
        burstable: input.burstable(job),
        ...(input.capacityGroup?.(job) ? { capacityGroup: input.capacityGroup(job)! } : {}),
      };
    }),
    workers: [...workers.values()].map((c) => ({
      group: c.group,
      idle: c.idle,
      busy: c.busy,
      ...(c.offline ? { offline: c.offline } : {}),
      ...(c.capacityGroup ? { capacityGroup: c.capacityGroup } : {}),
    })),
  };
}
