/**
 * Worker burst's moving parts in the service: between the scale sets (the worker-burst
 * backend) and the bridges' view of the workers (`ReportWorkers`). Capacity targets of
 * worker-burst groups arrive here (from the plan or a person, through the capacity manager);
 * growing resizes the scale set, shrinking drains (`planWorkers` decides), evictions are
 * metered as lost work.
 */
import type { CapacityBackend, GroupStatus, OperationOptions } from '../../compute/backend';
import type { Logger } from '../../logging';
import { planWorkers, type LeftNode, type WorkerOrder, type WorkerView } from './plan';

/** The backend calls the coordinator needs: a scale-set backend. */
export interface WorkerBurstBackend extends CapacityBackend {
  setScaleInProtection(
    group: string,
    nodeIds: readonly string[],
    protect: boolean,
    options?: OperationOptions,
  ): Promise<void>;
}

/** Where evicted work is priced and recorded: the capacity manager. */
export interface EvictedWorkSink {
  /** A group's price per node hour for its nodes' priority. */
  pricePerNodeHour(group: string, priority: 'dedicated' | 'spot'): number;
  /** Records the render time an eviction interrupted and what it cost. */
  recordEvictedWork(group: string, lostMs: number, cost: number): void;
}

/** Options of the coordinator. */
export interface WorkerBurstCoordinatorOptions {
  readonly logger: Logger;
  /** Where evicted work is priced and recorded. @default not recorded (see `attach`) */
  readonly sink?: EvictedWorkSink;
  /** An instance up this long without its worker is deleted when it drains. @default 600000 */
  readonly joinTimeoutMs?: number;
  /** How long the workers of deleted or evicted instances keep being told so. @default 600000 */
  readonly leftTtlMs?: number;
  /**
   * A frame that stopped within this long before its instance was evicted counts as lost to
   * the eviction (the notice is about 30 s; the worker gives its frame back at notice).
   * @default 90000
   */
  readonly evictionWindowMs?: number;
  /** How often groups with a target are reconciled between reports. @default 10000 */
  readonly reconcileEveryMs?: number;
}

/** A worker's latest busy span, from the bridges' reports. */
interface Span {
  since: number;
  lastBusyAt: number;
  /** Set when a report saw it idle again. */
  ended: boolean;
}

interface GroupState {
  target?: { dedicated: number; spot: number };
  workers?: Map<string, WorkerView>;
  draining: Set<string>;
  left: LeftNode[];
  spans: Map<string, Span>;
  /** Host names by instance id, from the last listing. */
  names: Map<string, string>;
  evicted: Set<string>;
  queue: Promise<unknown>;
  /** A reconcile queued and not started yet: further requests join it. */
  pending?: Promise<void>;
  /** Set once a reconcile has completed (its orders are current). */
  reconciled: boolean;
  lastOrders: readonly WorkerOrder[];
}

/**
 * Runs worker-burst groups: scale-out by resizing, scale-in by draining (a busy worker is
 * never deleted), protection of busy instances from scale-in, and evictions with their lost
 * work (see the module's comment).
 */
export class WorkerBurstCoordinator {
  private readonly groups = new Map<string, GroupState>();
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private sink: EvictedWorkSink | undefined;

  constructor(
    private readonly backend: WorkerBurstBackend,
    private readonly options: WorkerBurstCoordinatorOptions,
  ) {
    this.sink = options.sink;
    this.unsubscribe = backend.onCapacityEvent((e) => {
      if (e.type === 'nodePreempted' && e.nodeId) this.evicted(e.group, e.nodeId, e.time);
    });
    const every = options.reconcileEveryMs ?? 10_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        for (const [name, g] of this.groups) if (g.target) void this.reconcile(name).catch(() => undefined);
      }, every);
      this.timer.unref();
    }
  }

  /** Sets where evicted work is priced and recorded (the capacity manager, once it exists). */
  attach(sink: EvictedWorkSink): void {
    this.sink = sink;
  }

  private state(group: string): GroupState {
    let g = this.groups.get(group);
    if (!g) {
      g = {
        draining: new Set(),
        left: [],
        spans: new Map(),
        names: new Map(),
        evicted: new Set(),
        queue: Promise.resolve(),
        reconciled: false,
        lastOrders: [],
      };
      this.groups.set(group, g);
    }
    return g;
  }

  /**
   * Sets a worker-burst group's target: grows the scale set now, or drains the surplus
   * (instances leave as their workers drain). Answers the group's status.
   */
  async resizeGroup(
    name: string,
    target: { dedicated: number; spot: number },
    options: OperationOptions = {},
  ): Promise<GroupStatus> {
    this.state(name).target = { dedicated: target.dedicated, spot: target.spot };
    await this.reconcile(name, options);
    const status = await this.backend.getGroup(name, options);
    if (!status) throw new Error(`capacity group ${JSON.stringify(name)} has no scale set`);
    return status;
  }

  /**
   * A bridge's view of a group's workers; answers what each is to do. The group is
   * reconciled in the background (deleting or protecting instances takes ARM minutes), so the
   * answer is the last completed reconcile's: an order follows a report by one poll.
   */
  async report(
    group: string,
    workers: ReadonlyMap<string, WorkerView>,
    options: OperationOptions & { source?: string } = {},
  ): Promise<readonly WorkerOrder[]> {
    const g = this.state(group);
    const now = Date.now();
    for (const [name, w] of workers) {
      const span = g.spans.get(name);
      if (w.busy) {
        const since = w.busySince?.getTime() ?? now;
        if (!span || span.ended || span.since !== since)
          g.spans.set(name, { since, lastBusyAt: now, ended: false });
        else span.lastBusyAt = now;
      } else if (span && !span.ended) span.ended = true;
    }
    g.workers = new Map(workers);
    const run = this.reconcile(group);
    if (!g.reconciled) await run;
    else
      run.catch((err: unknown) =>
        this.options.logger.warn('worker burst: reconcile failed; tried again at the next report', {
          group,
          source: options.source,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    return g.lastOrders;
  }

  /** Runs the group's plan once (serialised per group; a request joins one already queued). */
  private reconcile(group: string, options: OperationOptions = {}): Promise<void> {
    const g = this.state(group);
    if (g.pending) return g.pending;
    const run = g.queue.then(() => {
      g.pending = undefined;
      return this.reconcileNow(group, g, options);
    });
    g.pending = run;
    g.queue = run.catch(() => undefined);
    return run;
  }

  private async reconcileNow(group: string, g: GroupState, options: OperationOptions): Promise<void> {
    const log = this.options.logger;
    const signal = options.abortSignal ?? this.abort.signal;
    const now = Date.now();
    g.left = g.left.filter((l) => now - l.at.getTime() < (this.options.leftTtlMs ?? 600_000));
    const nodes = await this.backend.listNodes(group, { abortSignal: signal });
    for (const n of nodes) if (n.hostName) g.names.set(n.id, n.hostName);
    const total = g.target ? g.target.dedicated + g.target.spot : undefined;
    const plan = planWorkers({
      now: new Date(now),
      nodes,
      workers: g.workers,
      target: total,
      draining: g.draining,
      left: g.left,
      joinTimeoutMs: this.options.joinTimeoutMs ?? 600_000,
    });
    for (const reason of plan.reasons) log.info('worker burst', { group, reason });
    g.draining = new Set(plan.draining);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    // Removal candidates lose their protection first (the backend refuses protected ones).
    const unprotect = [
      ...new Set([...plan.unprotect, ...plan.remove.filter((id) => byId.get(id)?.protectedFromScaleIn)]),
    ];
    if (plan.protect.length > 0)
      await this.backend.setScaleInProtection(group, plan.protect, true, { abortSignal: signal });
    if (unprotect.length > 0)
      await this.backend.setScaleInProtection(group, unprotect, false, { abortSignal: signal });
    if (plan.remove.length > 0) {
      await this.backend.removeNodes(group, plan.remove, { abortSignal: signal });
      for (const id of plan.remove) {
        const name = byId.get(id)?.hostName;
        if (name) g.left.push({ nodeId: id, workerName: name, how: 'removed', at: new Date() });
      }
      log.info('worker burst: drained instances deleted', { group, instances: plan.remove.join(',') });
    }
    if (plan.growTo !== undefined && g.target) {
      const spot =
        g.target.spot > 0 || (g.target.dedicated === 0 && nodes.some((n) => n.priority === 'spot'));
      await this.backend.resizeGroup(
        group,
        spot ? { dedicated: 0, spot: plan.growTo } : { dedicated: plan.growTo, spot: 0 },
        { abortSignal: signal },
      );
    }
    g.lastOrders = plan.orders;
    g.reconciled = true;
  }

  /** An instance was evicted: its worker is told, and the frame it lost is metered. */
  private evicted(group: string, nodeId: string, at: Date): void {
    const g = this.state(group);
    if (g.evicted.has(nodeId)) return;
    g.evicted.add(nodeId);
    g.draining.delete(nodeId);
    const name = g.names.get(nodeId);
    let lostMs = 0;
    if (name) {
      g.left.push({ nodeId, workerName: name, how: 'evicted', at });
      const span = g.spans.get(name);
      const window = this.options.evictionWindowMs ?? 90_000;
      if (span && (!span.ended || at.getTime() - span.lastBusyAt <= window)) {
        lostMs = Math.max(0, (span.ended ? span.lastBusyAt : at.getTime()) - span.since);
        g.spans.delete(name);
      }
    }
    const cost = (lostMs / 3_600_000) * (this.sink?.pricePerNodeHour(group, 'spot') ?? 0);
    this.options.logger.warn('worker burst: instance evicted', {
      group,
      instance: nodeId,
      worker: name,
      lostWorkSeconds: Math.round(lostMs / 1000),
    });
    this.sink?.recordEvictedWork(group, lostMs, cost);
  }

  /** The orders last given for a group (for tests and status). */
  ordersOf(group: string): readonly WorkerOrder[] {
    return this.groups.get(group)?.lastOrders ?? [];
  }

  /** Forgets a deleted group. */
  forget(group: string): void {
    this.groups.delete(group);
  }

  /** Stops listening and reconciling. */
  close(): void {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
  }
}

/** Whether a backend can run worker-burst groups (it protects instances from scale-in). */
export function isWorkerBurstBackend(backend: CapacityBackend): backend is WorkerBurstBackend {
  return typeof (backend as Partial<WorkerBurstBackend>).setScaleInProtection === 'function';
}
