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
