/**
 * The bridge's decisions as pure functions: which queued tasks no idle local worker could
 * take (and so may go to the cloud), each job's policy deadline, and the farm report.
 */
import type { FarmReport } from '@spillway/sdk';
import type { DeadlineJob, DeadlineLimit, DeadlineTask, DeadlineWorker } from '../webservice';

/** The ExtraInfo key a job may carry its deadline in (ISO-8601). */
export const DEADLINE_EXTRA_INFO_KEY = 'SpillwayDeadline';

/** True when `worker` may render `job`: its group and pool, and no limit group is full. */
export function workerCanTake(
  worker: Pick<DeadlineWorker, 'groups' | 'pools'>,
  job: Pick<DeadlineJob, 'group' | 'pool' | 'limits'>,
  limits: readonly DeadlineLimit[] = [],
): boolean {
  if (job.group !== '' && !worker.groups.includes(job.group)) return false;
  if (job.pool !== '' && !worker.pools.includes(job.pool)) return false;
  for (const name of job.limits) {
    const l = limits.find((x) => x.name === name);
    if (l && l.limit > 0 && l.inUse >= l.limit) return false;
  }
  return true;
}

/** What `chooseOffload` decides from. */
export interface OffloadInput {
  /** Active jobs. */
  readonly jobs: readonly DeadlineJob[];
  readonly tasks: ReadonlyMap<string, readonly DeadlineTask[]>;
  readonly workers: readonly DeadlineWorker[];
  readonly limits?: readonly DeadlineLimit[];
  /** Tasks per job the plan offloads. */
  readonly wanted: ReadonlyMap<string, number>;
  /** `jobId:taskId` of tasks that must stay local (or are already handled). */
  readonly exclude?: ReadonlySet<string>;
}

/**
 * Per job, the task ids to offload: idle workers are handed out to jobs in priority order
 * (highest first, then submission order), each taking the job's lowest queued tasks as
 * Deadline would; of the queued tasks left, the highest ids go, up to the plan's count.
 */
export function chooseOffload(input: OffloadInput): Map<string, number[]> {
  const idle = input.workers.filter((w) => w.state === 'idle');
  const taken = new Set<string>();
  const out = new Map<string, number[]>();
  const jobs = [...input.jobs].sort(
    (a, b) => b.priority - a.priority || (a.submittedAt?.getTime() ?? 0) - (b.submittedAt?.getTime() ?? 0),
  );
  for (const job of jobs) {
    const queued = (input.tasks.get(job.id) ?? [])
      .filter((t) => t.state === 'queued')
      .sort((a, b) => a.taskId - b.taskId);
    let localSlots = 0;
    for (const w of idle) {
      if (localSlots >= queued.length) break;
      if (taken.has(w.name) || !workerCanTake(w, job, input.limits)) continue;
      taken.add(w.name);
      localSlots += 1;
    }
    const want = input.wanted.get(job.id) ?? 0;
    if (want <= 0) continue;
    const left = queued.slice(localSlots).filter((t) => !input.exclude?.has(`${job.id}:${t.taskId}`));
    const chosen = left.slice(Math.max(0, left.length - want)).map((t) => t.taskId);
    if (chosen.length > 0) out.set(job.id, chosen);
  }
  return out;
}

/**
 * A job's deadline for the policy: its `SpillwayDeadline` ExtraInfo value when that is a
 * valid ISO-8601 time, else its submission time (or `firstSeen`) plus the turnaround.
 */
export function jobDeadline(
  job: Pick<DeadlineJob, 'extraInfo' | 'submittedAt'>,
  turnaroundSeconds: number,
  firstSeen: Date,
  key = DEADLINE_EXTRA_INFO_KEY,
): Date {
  const given = job.extraInfo[key];
  if (given) {
    const d = new Date(given);
    if (!Number.isNaN(d.getTime())) return d;
  }
  return new Date((job.submittedAt ?? firstSeen).getTime() + turnaroundSeconds * 1000);
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
  /** Capacity group for every job. @default the service's default */
  readonly capacityGroup?: string;
}

/** The farm as the service's `ReportFarmState` takes it; one task counts as one frame. */
export function farmReport(input: ReportInput): FarmReport {
  const workers = new Map<string, { idle: number; busy: number }>();
  for (const w of input.workers) {
    if (w.state !== 'idle' && w.state !== 'rendering' && w.state !== 'startingJob') continue;
    const g = reportGroupOf(w);
    const c = workers.get(g) ?? { idle: 0, busy: 0 };
    if (w.state === 'idle') c.idle += 1;
    else c.busy += 1;
    workers.set(g, c);
  }
  return {
    source: input.source,
    observedAt: input.now,
    jobs: input.jobs.map((job) => {
      const tasks = input.tasks.get(job.id) ?? [];
      return {
        sourceJobId: job.id,
        priority: Math.max(0, Math.min(100, Math.round(job.priority))),
        group: job.group,
        queuedFrames: tasks.filter((t) => t.state === 'queued').length,
        renderingFrames: tasks.filter((t) => t.state === 'rendering').length,
        offloadedFrames: input.offloaded.get(job.id) ?? 0,
        ...(job.submittedAt ? { submittedAt: job.submittedAt } : {}),
        deadline: input.deadline(job),
        burstable: input.burstable(job),
        ...(input.capacityGroup ? { capacityGroup: input.capacityGroup } : {}),
      };
    }),
    workers: [...workers].map(([group, c]) => ({ group, idle: c.idle, busy: c.busy })),
  };
}
