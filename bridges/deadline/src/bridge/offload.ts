/**
 * How many and which queued tasks leave: the queued tasks no idle local worker could take,
 * up to what the service's plan asks per job. Pure. (The service's plan will decide the
 * counts alone; this module then only picks which tasks carry them out.)
 */
import type { DeadlineJob, DeadlineLimit, DeadlineTask, DeadlineWorker } from '../webservice';
import { taskKey, type TaskId } from './state';

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
export function chooseOffload(input: OffloadInput): Map<string, TaskId[]> {
  const idle = input.workers.filter((w) => w.state === 'idle');
  const taken = new Set<string>();
  const out = new Map<string, TaskId[]>();
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
    const left = queued.slice(localSlots).filter((t) => !input.exclude?.has(taskKey(job.id, t.taskId)));
    const chosen = left.slice(Math.max(0, left.length - want)).map((t) => t.taskId);
    if (chosen.length > 0) out.set(job.id, chosen);
  }
  return out;
}

/** One limit group as the bridge sees it: what the studio set, and who holds its stubs. */
export interface LimitUse {
  readonly name: string;
  /** The limit the studio set (before the bridge lowered it for cloud frames). */
  readonly limit: number;
  /** Tasks of its jobs rendering on local workers (Deadline's stubs in use). */
  readonly local: number;
  /** Cloud frames of its jobs the bridge holds (suspended in Deadline, in the cloud). */
  readonly cloud: number;
}

/**
 * Trims the tasks chosen to leave so that, for every limit group of their job, local + cloud
 * + newly offloaded never exceed the limit the studio set, and the local farm keeps at least
 * one stub (the Deadline limit the bridge sets is never lowered to 0, which Deadline's tools
 * read as "unlimited"). Jobs are served in the order given (the chooser's priority order).
 * Limits the bridge does not know are not limits. Pure.
 */
export function capByLimits(
  chosen: ReadonlyMap<string, readonly TaskId[]>,
  jobs: ReadonlyMap<string, Pick<DeadlineJob, 'limits'>>,
  uses: readonly LimitUse[],
): Map<string, TaskId[]> {
  const left = new Map(
    uses
      .filter((u) => u.limit > 0)
      .map((u) => [u.name, Math.max(0, Math.min(u.limit - u.local - u.cloud, u.limit - 1 - u.cloud))]),
  );
  const out = new Map<string, TaskId[]>();
  for (const [jobId, ids] of chosen) {
    const names = (jobs.get(jobId)?.limits ?? []).filter((n) => left.has(n));
    const room = Math.min(ids.length, ...names.map((n) => left.get(n)!));
    if (room <= 0) continue;
    for (const n of names) left.set(n, left.get(n)! - room);
    // The highest ids leave, as the chooser ordered them: keep its last `room`.
    out.set(jobId, ids.slice(ids.length - room));
  }
  return out;
}

/**
 * The Deadline limit each limit group should have while the bridge holds `cloud` of its stubs:
 * the studio's limit less the cloud frames (at least 1; see `capByLimits`). Pure.
 */
export function lowered(use: Pick<LimitUse, 'limit' | 'cloud'>): number {
  return use.cloud > 0 ? Math.max(1, use.limit - use.cloud) : use.limit;
}
