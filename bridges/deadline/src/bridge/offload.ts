/**
 * Which queued tasks carry out the service's plan. Pure. The plan decides how many frames of
 * each job leave (the burst policy, which already counts the idle workers); this module only
 * picks which tasks: the ones the farm would reach last.
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
  /** Tasks per job the plan offloads. */
  readonly wanted: ReadonlyMap<string, number>;
  /** `jobId:taskId` of tasks that must stay local (or are already handled). */
  readonly exclude?: ReadonlySet<string>;
}

/**
 * Per job, the task ids to offload: the plan's count of its queued tasks, the highest ids
 * first (Deadline dispatches a job's lowest task ids first, so these are the ones the farm
 * would reach last), skipping excluded tasks.
 */
export function chooseOffload(input: OffloadInput): Map<string, TaskId[]> {
  const out = new Map<string, TaskId[]>();
  for (const job of input.jobs) {
    const want = input.wanted.get(job.id) ?? 0;
    if (want <= 0) continue;
    const left = (input.tasks.get(job.id) ?? [])
      .filter((t) => t.state === 'queued' && !input.exclude?.has(taskKey(job.id, t.taskId)))
      .sort((a, b) => a.taskId - b.taskId);
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
