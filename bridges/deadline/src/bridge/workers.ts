/**
 * Worker burst in the Deadline bridge: the cloud workers of the worker-burst capacity groups
 * the bridge serves (`workerGroups`) joined the farm from their instances' start-up. Every
 * poll the bridge tells the service how Deadline sees them (rendering? enabled? since when?)
 * and carries out what it answers:
 * - `drain`: disable the worker (Deadline gives a disabled worker no new task; the one it
 *   renders finishes), so the service deletes the instance only once it is idle;
 * - `serve`: enable it again, if the bridge was the one that disabled it;
 * - `evicted`: its instance was evicted: requeue the task it was rendering at once (instead of
 *   waiting for Deadline to find the worker stalled), then remove its record;
 * - `remove`: its instance is gone: remove its record (`DELETE /api/slaves`).
 */
import { cloudWorkersOf } from '@spillway/bridge-kit';
import type { WorkerOrderInfo, WorkerReportInput } from '@spillway/sdk';
import type { DeadlineTask, DeadlineWorker } from '../webservice';
import type { BridgeContext } from './context';

/** What the bridge knows of one cloud worker this poll. */
interface Seen {
  readonly worker: DeadlineWorker;
  readonly task: DeadlineTask | undefined;
}

/** Busy: rendering or starting a job, or holding a rendering task. */
function isBusy(seen: Seen): boolean {
  return seen.worker.state === 'rendering' || seen.worker.state === 'startingJob' || seen.task !== undefined;
}

/** The worker-burst part of the poll. */
export class WorkerBurstCycle {
  /** Workers this bridge disabled to drain them (only those are enabled again). */
  private readonly disabledByUs = new Set<string>();
  /** Counters, for logs and tests. */
  readonly counters = { disabled: 0, enabled: 0, requeuedOnEviction: 0, removed: 0 };

  constructor(private readonly ctx: BridgeContext) {}

  /**
   * The cloud workers of the served groups now: worker name (lower case) to its worker-burst
   * group, from the groups' instances' host names. A group the service cannot list is left
   * out (its workers count as the farm's own until it answers again).
   */
  async members(): Promise<Map<string, string>> {
    return cloudWorkersOf(this.ctx.burst.capacity, this.ctx.config.workerGroups, {
      ...this.ctx.sig,
      onUnlisted: (group, err) =>
        this.ctx.log.debug('worker-burst group not listed', { group, error: err.message }),
    });
  }

  /** Reports each served group's workers and carries out the answer. */
  async run(
    workers: readonly DeadlineWorker[],
    tasks: ReadonlyMap<string, readonly DeadlineTask[]>,
  ): Promise<void> {
    const groups = this.ctx.config.workerGroups;
    if (groups.length === 0) return;
    const rendering = new Map<string, DeadlineTask>();
    for (const list of tasks.values())
      for (const t of list) if (t.state === 'rendering' && t.worker) rendering.set(t.worker.toLowerCase(), t);
    const byName = new Map(workers.map((w) => [w.name.toLowerCase(), w]));
    for (const group of groups) {
      try {
        await this.runGroup(group, byName, rendering);
        this.ctx.episodes.recovered(`workers:${group}`, 'worker-burst group reported again');
      } catch (err) {
        if (this.ctx.signal.aborted) return;
        const e = err as Error & { code?: string };
        this.ctx.episodes.problem(
          `workers:${group}`,
          `${e.name}:${e.code ?? ''}`,
          'worker-burst group not reported',
          {
            group,
            error: e.message,
          },
        );
      }
    }
  }

  private async runGroup(
    group: string,
    byName: ReadonlyMap<string, DeadlineWorker>,
    rendering: ReadonlyMap<string, DeadlineTask>,
  ): Promise<void> {
    const { ctx } = this;
    const nodes = await ctx.burst.capacity.nodes(group, ctx.sig);
    const seen = new Map<string, Seen>();
    for (const n of nodes) {
      const name = n.workerName?.toLowerCase();
      const worker = name ? byName.get(name) : undefined;
      if (name && worker) seen.set(name, { worker, task: rendering.get(name) });
    }
    const settings = seen.size
      ? await ctx.deadline.listWorkerSettings(
          [...seen.values()].map((s) => s.worker.name),
          ctx.sig,
        )
      : [];
    const enabled = new Map(settings.map((s) => [s.name.toLowerCase(), s]));
    const reports: WorkerReportInput[] = [...seen.entries()].map(([name, s]) => ({
      workerName: s.worker.name,
      busy: isBusy(s),
      acceptingWork: enabled.get(name)?.enabled ?? true,
      ...(s.task?.startedAt ? { busySince: s.task.startedAt } : {}),
    }));
    const orders = await ctx.burst.capacity.reportWorkers(group, reports, { ...ctx.sig, source: ctx.source });
    for (const order of orders) await this.carryOut(group, order, byName, rendering, enabled);
  }

  private async carryOut(
    group: string,
    order: WorkerOrderInfo,
    byName: ReadonlyMap<string, DeadlineWorker>,
    rendering: ReadonlyMap<string, DeadlineTask>,
    settings: ReadonlyMap<
      string,
      Awaited<ReturnType<BridgeContext['deadline']['listWorkerSettings']>>[number]
    >,
  ): Promise<void> {
    const { ctx } = this;
    const key = order.workerName.toLowerCase();
    const worker = byName.get(key);
    if (!worker) return; // not (or no longer) in Deadline
    const s = settings.get(key);
    switch (order.disposition) {
      case 'drain':
        if (s?.enabled ?? true) {
          const current = s ?? (await ctx.deadline.listWorkerSettings([worker.name], ctx.sig))[0];
          if (!current) return;
          await ctx.deadline.setWorkerEnabled(current, false, ctx.sig);
          this.disabledByUs.add(key);
          this.counters.disabled += 1;
          ctx.log.info('cloud worker draining: disabled, its instance leaves once it is idle', {
            group,
            worker: worker.name,
            instance: order.nodeId,
          });
        }
        return;
      case 'serve':
        if (s && !s.enabled && this.disabledByUs.has(key)) {
          await ctx.deadline.setWorkerEnabled(s, true, ctx.sig);
          this.disabledByUs.delete(key);
          this.counters.enabled += 1;
          ctx.log.info('cloud worker kept: enabled again', { group, worker: worker.name });
        }
        return;
      case 'evicted':
      case 'remove': {
        // A task still shown rendering on a worker whose instance is gone would wait for
        // Deadline's stalled-worker detection: requeue it now.
        const task = rendering.get(key);
        if (task) {
          await ctx.deadline.taskCommand('requeue', task.jobId, [task.taskId], ctx.sig);
          if (order.disposition === 'evicted') this.counters.requeuedOnEviction += 1;
          ctx.log.warn('task of a cloud worker whose instance is gone requeued', {
            group,
            worker: worker.name,
            job: task.jobId,
            task: task.taskId,
            why: order.disposition,
          });
        }
        await ctx.deadline.deleteWorker(worker.name, ctx.sig);
        this.disabledByUs.delete(key);
        this.counters.removed += 1;
        ctx.log.info('cloud worker removed from Deadline', {
          group,
          worker: worker.name,
          instance: order.nodeId,
          why: order.disposition,
        });
        return;
      }
    }
  }
}
