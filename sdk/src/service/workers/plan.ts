/**
 * The lifecycle of a worker-burst group's workers, as a pure function of what is known now:
 * the group's instances (from the scale set), its workers (from the bridge's report), the
 * target the plan or a person set, and what is already draining. It decides which instances
 * are protected from scale-in, which start draining, which are deleted, how far the scale set
 * grows, and what each worker is told. A busy worker is never deleted: an instance leaves
 * only once its worker takes no new work and renders nothing, or when it never had a worker.
 */
import type { ComputeNode } from '../../compute/backend';

/** What the render manager says of one worker (see `WorkerReport` in capacity.proto). */
export interface WorkerView {
  readonly busy: boolean;
  readonly acceptingWork: boolean;
  /** When its current frame started (busy workers). */
  readonly busySince?: Date;
}

/** What a worker is to do (see `WorkerDisposition` in capacity.proto). */
export type WorkerDisposition = 'serve' | 'drain' | 'evicted' | 'remove';

/** One worker's order. */
export interface WorkerOrder {
  readonly workerName: string;
  readonly nodeId: string;
  readonly disposition: WorkerDisposition;
}

/** An instance that left lately (deleted after draining, or evicted): its worker is told to go. */
export interface LeftNode {
  readonly nodeId: string;
  readonly workerName: string;
  readonly how: 'removed' | 'evicted';
  readonly at: Date;
}

/** Everything `planWorkers` decides from. */
export interface WorkerPlanInput {
  readonly now: Date;
  /** The group's instances as the scale set lists them. */
  readonly nodes: readonly ComputeNode[];
  /**
   * The bridge's latest view of the workers, by worker name; undefined when no bridge reports
   * the group (then protection from scale-in is the only sign of a busy instance).
   */
  readonly workers: ReadonlyMap<string, WorkerView> | undefined;
  /** Instances the plan or a person wants; undefined: no target set (nothing grows or drains). */
  readonly target: number | undefined;
  /** Instances already draining. */
  readonly draining: ReadonlySet<string>;
  /** Instances that left lately. */
  readonly left: readonly LeftNode[];
  /** An instance running this long without its worker in the report is deleted as broken (when draining). */
  readonly joinTimeoutMs: number;
}

/** What to do. */
export interface WorkerPlan {
  /** Instances to protect from scale-in (their worker is busy). */
  readonly protect: readonly string[];
  /** Instances whose protection to lift (their worker is idle). */
  readonly unprotect: readonly string[];
  /** Instances that drain from now on (after this plan). */
  readonly draining: ReadonlySet<string>;
  /** Instances to delete now (drained, never joined, or booting). */
  readonly remove: readonly string[];
  /** Scale set capacity to grow to; undefined: no growth. */
  readonly growTo?: number;
  /** What each worker is to do. */
  readonly orders: readonly WorkerOrder[];
  /** Why, for logs. */
  readonly reasons: readonly string[];
}

const GONE: ReadonlySet<ComputeNode['state']> = new Set(['leaving', 'preempted']);
const BOOTING: ReadonlySet<ComputeNode['state']> = new Set(['creating', 'starting', 'waitingForStartTask']);

/** The worker of a node as the bridge reports it, if it does. */
function workerOf(node: ComputeNode, workers: WorkerPlanInput['workers']): WorkerView | undefined {
  return node.hostName ? workers?.get(node.hostName) : undefined;
}

/**
 * Which instances leave first: instances still booting with no worker (nothing to lose),
 * then idle workers, then instances up but not joined yet, then busy workers (they finish
 * their frame first), the one rendering longest first; ties: the highest instance id (Azure's
 * default scale-in order).
 */
function drainOrder(nodes: readonly ComputeNode[], workers: WorkerPlanInput['workers']): ComputeNode[] {
  const rank = (n: ComputeNode): number => {
    const w = workerOf(n, workers);
    if (n.protectedFromScaleIn && !w) return 3;
    if (!w) return BOOTING.has(n.state) ? 0 : 2;
    return w.busy ? 3 : 1;
  };
  return [...nodes].sort((a, b) => {
    const r = rank(a) - rank(b);
    if (r !== 0) return r;
    const wa = workerOf(a, workers)?.busySince?.getTime() ?? 0;
    const wb = workerOf(b, workers)?.busySince?.getTime() ?? 0;
    if (wa !== wb) return wa - wb;
    return Number(b.id) - Number(a.id);
  });
}

/** Decides the group's next steps (see the module's comment). */
export function planWorkers(input: WorkerPlanInput): WorkerPlan {
  const { nodes, workers } = input;
  const reasons: string[] = [];
  const live = nodes.filter((n) => !GONE.has(n.state));
  const liveIds = new Set(live.map((n) => n.id));
  const draining = new Set([...input.draining].filter((id) => liveIds.has(id)));

  // Sizing: drain the surplus, or take instances back from draining before growing.
  let growTo: number | undefined;
  if (input.target !== undefined) {
    const serving = live.filter((n) => !draining.has(n.id));
    if (serving.length > input.target) {
      const surplus = drainOrder(serving, workers).slice(0, serving.length - input.target);
      for (const n of surplus) draining.add(n.id);
      reasons.push(
        `draining ${surplus.length} instance(s) towards ${input.target}: ${surplus.map((n) => n.id).join(',')}`,
      );
    } else if (serving.length < input.target) {
      // The ones least advanced in leaving come back first (busy ones still render).
      const back = drainOrder(
        live.filter((n) => draining.has(n.id)),
        workers,
      )
        .reverse()
        .slice(0, input.target - serving.length);
      for (const n of back) draining.delete(n.id);
      if (back.length > 0)
        reasons.push(`kept ${back.length} draining instance(s): ${back.map((n) => n.id).join(',')}`);
      if (live.length < input.target) {
        growTo = input.target;
        reasons.push(`growing from ${live.length} to ${input.target} instance(s)`);
      }
    }
  }

  // Deletion: only instances with nothing to lose.
  const remove: string[] = [];
  for (const n of live) {
    if (!draining.has(n.id)) continue;
    const w = workerOf(n, workers);
    const up = input.now.getTime() - n.createdAt.getTime();
    if (workers === undefined) {
      // No bridge reports this group: an instance protected from scale-in is busy, the others are not.
      if (!n.protectedFromScaleIn) remove.push(n.id);
    } else if (w) {
      if (!w.busy && !w.acceptingWork) remove.push(n.id);
    } else if (BOOTING.has(n.state)) {
      remove.push(n.id); // its start-up has not run: no worker can have taken work
    } else if (up > input.joinTimeoutMs) {
      remove.push(n.id);
      reasons.push(`instance ${n.id} never joined the farm in ${Math.round(up / 1000)} s: deleted`);
    }
  }
  const removing = new Set(remove);

  // Protection follows the worker: busy ones are protected, idle ones are not.
  const protect: string[] = [];
  const unprotect: string[] = [];
  for (const n of live) {
    const w = workerOf(n, workers);
    if (!w) continue;
    if (w.busy && !n.protectedFromScaleIn) protect.push(n.id);
    else if (!w.busy && n.protectedFromScaleIn) unprotect.push(n.id);
  }

  const orders: WorkerOrder[] = [];
  for (const n of nodes) {
    if (!n.hostName) continue;
    const disposition: WorkerDisposition =
      n.state === 'preempted'
        ? 'evicted'
        : removing.has(n.id) || n.state === 'leaving'
          ? 'remove'
          : draining.has(n.id)
            ? 'drain'
            : 'serve';
    orders.push({ workerName: n.hostName, nodeId: n.id, disposition });
  }
  const told = new Set(orders.map((o) => o.nodeId));
  for (const l of input.left) {
    if (told.has(l.nodeId)) continue;
    orders.push({
      workerName: l.workerName,
      nodeId: l.nodeId,
      disposition: l.how === 'evicted' ? 'evicted' : 'remove',
    });
  }
  for (const id of removing) draining.delete(id);
  return {
    protect,
    unprotect,
    draining,
    remove,
    ...(growTo !== undefined ? { growTo } : {}),
    orders,
    reasons,
  };
}
