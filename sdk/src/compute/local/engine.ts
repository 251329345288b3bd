import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { vmSizeCores } from '../vm-sizes';
import { EngineError } from './errors';
import { downloadResourceFiles, uploadOutputFiles } from './files';
import { runProcess, type RunningProcess } from './process';
import type {
  BatchNodeState,
  DeallocationOption,
  EngineCapacityEvent,
  EngineCommand,
  EngineJob,
  EngineJobSpec,
  EngineNode,
  EnginePool,
  EnginePoolSpec,
  EngineTask,
  EngineTaskCounts,
  EngineTaskEvent,
  EngineTaskSpec,
} from './types';
import { SeededRandom } from '../../random';

/** Options of the local engine. */
export interface LocalEngineOptions {
  /** Where node directories live. @default a new temporary directory, removed on close */
  readonly rootDir?: string;
  /** Simulated time from a resize to a node being idle (half creating, half starting). @default 0 */
  readonly bootDelayMs?: number;
  /** Random spot preemptions, per spot node and hour. @default 0 (only on demand) */
  readonly spotPreemptionsPerNodeHour?: number;
  /** A preempted spot node comes back (as a fresh node) after this long; negative never. @default 30 seconds */
  readonly spotRecoveryMs?: number;
  /** Seed of the random preemptions. @default 1 */
  readonly seed?: number;
  /**
   * Simulated time a resize keeps the pool `resizing`: new nodes stay `creating` (being
   * allocated) until it has passed, and a second resize or a node removal meanwhile is
   * refused with 409 `PoolBeingResized`, as Batch does. Real Batch takes minutes.
   * @default half of `bootDelayMs` for nodes being added; no minimum otherwise
   */
  readonly resizeTimeMs?: number;
  /** Account quotas, as Batch enforces them. @default unlimited */
  readonly quota?: EngineQuota;
  /** Reported as `AZ_BATCH_ACCOUNT_NAME`. @default 'local' */
  readonly accountName?: string;
  /** Job release time limit (Batch: 15 minutes). @default 15 minutes */
  readonly releaseTimeoutMs?: number;
  /** Timeout of each resource/output file transfer. @default 60 seconds */
  readonly transferTimeoutMs?: number;
  /** Variables every node's processes see (as a pool's start task would set them). @default none */
  readonly nodeEnvironment?: Readonly<Record<string, string>>;
  /**
   * Local directories standing in for shares, by mount source (`nas:/export/projects`,
   * `https://acct.blob.core.windows.net/textures`): a node mounts a source by linking its mount
   * path to the directory. A source not listed gets an (empty) directory of the engine's own,
   * `<rootDir>/shares/<source>`, the same for every node. A listed directory that does not exist
   * leaves the mount missing on the nodes (its log says why), as a failed mount would.
   * @default none
   */
  readonly shares?: Readonly<Record<string, string>>;
  /**
   * Scheduling niceness of every command the nodes run (0 to 19). The service that embeds
   * the engine shares its machine with the tasks and must stay responsive. @default 0
   */
  readonly niceness?: number;
}

/**
 * An account's quotas (Batch's defaults: 100-300 active jobs and job schedules, up to 100
 * pools, up to 900 dedicated and 100 low-priority cores). Each is unlimited when not given.
 */
export interface EngineQuota {
  /** Dedicated vCPUs across pools (a node counts its VM size's vCPUs). */
  readonly dedicatedCores?: number;
  /** Low-priority (spot) vCPUs across pools. */
  readonly lowPriorityCores?: number;
  /** Pools; one more is refused with 409 `PoolQuotaReached`. */
  readonly pools?: number;
  /** Jobs not completed; one more is refused with 409 `ActiveJobAndScheduleQuotaReached`. */
  readonly activeJobs?: number;
  /** Dedicated nodes across pools (a node-count view of the core quota). */
  readonly dedicatedNodes?: number;
  /** Spot nodes across pools. */
  readonly spotNodes?: number;
}

/** A node's vCPUs as quotas count them: its VM size's, or 1 for a size that is not Azure's (`local`). */
export function nodeCores(vmSize: string): number {
  return vmSizeCores(vmSize) ?? 1;
}

/** The preparation or release task of a job on one node, as Batch reports it. */
export interface EngineJobTaskRun {
  readonly state: 'running' | 'completed';
  readonly startTime: Date;
  readonly endTime?: Date;
  readonly exitCode?: number;
  readonly result?: 'success' | 'failure';
  /** The task's directory on the node. */
  readonly taskDir: string;
}

/** A job's preparation and release on one node (Batch's `JobPreparationAndReleaseTaskExecutionInformation`). */
export interface EngineJobNodeStatus {
  readonly poolId: string;
  readonly nodeId: string;
  readonly preparation?: EngineJobTaskRun;
  readonly release?: EngineJobTaskRun;
}

type Mut<T> = { -readonly [K in keyof T]: T[K] };

interface NodeRec extends Mut<EngineNode> {
  tasks: Set<TaskRec>;
  /** Per job: the preparation's outcome (a promise while it runs). */
  prepared: Map<string, Promise<boolean>>;
  prepFailed: Set<string>;
  /** Bumped on preemption, reboot and removal: callbacks of an older generation are stale. */
  generation: number;
  leaving?: DeallocationOption;
  readyOnce: boolean;
  procs: Set<RunningProcess>;
}

interface PoolRec extends Mut<EnginePool> {
  nodes: Map<string, NodeRec>;
  nodeSeq: number;
  resizeTimer?: NodeJS.Timeout;
  /** The pool stays `resizing` at least until then (`resizeTimeMs`). */
  settleAt?: number;
  settleTimer?: NodeJS.Timeout;
}

interface TaskRec extends Mut<EngineTask> {
  proc?: RunningProcess;
  attempt: number;
  terminating?: boolean;
  key: string;
}

interface JobRec extends Mut<EngineJob> {
  tasks: Map<string, TaskRec>;
  queue: TaskRec[];
  qHead: number;
  counts: Mut<EngineTaskCounts>;
  seq: number;
  /** Nodes that ran (or started) the job's preparation or a task: release runs there. */
  nodesUsed: Set<NodeRec>;
  release?: Promise<void>;
  /** Preparation and release runs by node id. */
  nodeRuns: Map<string, Mut<EngineJobNodeStatus>>;
}

const READY: ReadonlySet<BatchNodeState> = new Set(['idle', 'running']);

/**
 * The local engine: Azure Batch's model (pools of nodes with task slots, jobs with
 * preparation and release, tasks with retries) run on this machine. Nodes are simulated
 * (boot delay, spot preemption); tasks are real `/bin/sh -c` processes, each in its own
 * process group and working directory, with the environment variables Batch sets.
 *
 * Errors are {@link EngineError}s carrying the code and HTTP status Batch answers with.
 * Everything is event-driven: no polling loop, so 10,000 queued tasks cost only memory.
 */
export class LocalEngine {
  /** Where node directories live. */
  readonly rootDir: string;
  private readonly ownsRoot: boolean;
  private readonly pools = new Map<string, PoolRec>();
  private readonly jobs = new Map<string, JobRec>();
  private readonly taskListeners = new Set<(e: EngineTaskEvent) => void>();
  private readonly capacityListeners = new Set<(e: EngineCapacityEvent) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly random: () => number;
  private scheduled = false;
  private closed = false;
  private preemptTimer?: NodeJS.Timeout;

  constructor(private readonly options: LocalEngineOptions = {}) {
    this.ownsRoot = options.rootDir === undefined;
    this.rootDir = options.rootDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-local-'));
    fs.mkdirSync(this.rootDir, { recursive: true });
    this.random = SeededRandom.fromState(options.seed ?? 1).next;
    const rate = options.spotPreemptionsPerNodeHour ?? 0;
    if (rate > 0) {
      this.preemptTimer = setInterval(() => {
        for (const pool of this.pools.values()) {
          for (const node of [...pool.nodes.values()]) {
            if (node.priority === 'spot' && READY.has(node.state) && this.random() < rate / 3600) {
              this.preemptNode(pool.id, node.id);
            }
          }
        }
      }, 1000);
      this.preemptTimer.unref();
    }
  }

  /** The account quotas this engine enforces (empty: none). */
  get quota(): EngineQuota {
    return this.options.quota ?? {};
  }

  // ---------------------------------------------------------------- events

  /** Subscribes to task changes; returns the unsubscribe function. */
  onTaskEvent(listener: (e: EngineTaskEvent) => void): () => void {
    this.taskListeners.add(listener);
    return () => this.taskListeners.delete(listener);
  }

  /** Subscribes to capacity changes; returns the unsubscribe function. */
  onCapacityEvent(listener: (e: EngineCapacityEvent) => void): () => void {
    this.capacityListeners.add(listener);
    return () => this.capacityListeners.delete(listener);
  }

  private emitTask(type: EngineTaskEvent['type'], task: TaskRec): void {
    const event: EngineTaskEvent = { type, task, time: new Date() };
    for (const l of this.taskListeners) l(event);
  }

  private emitCapacity(event: Omit<EngineCapacityEvent, 'time'>): void {
    const e: EngineCapacityEvent = { ...event, time: new Date() };
    for (const l of this.capacityListeners) l(e);
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  // ---------------------------------------------------------------- pools

  /** Creates a pool and starts allocating its target nodes. `PoolExists` if the id is taken. */
  addPool(spec: EnginePoolSpec): EnginePool {
    const key = spec.id.toLowerCase();
    if (this.pools.has(key)) throw new EngineError('PoolExists', 'The specified pool already exists.', 409);
    const poolQuota = this.options.quota?.pools;
    if (poolQuota !== undefined && this.pools.size >= poolQuota) {
      throw new EngineError('PoolQuotaReached', 'Pool quota for the account has been reached.', 409, [
        { key: 'Quota', value: String(poolQuota) },
      ]);
    }
    const now = new Date();
    const pool: PoolRec = {
      spec,
      id: spec.id,
      state: 'active',
      allocationState: 'steady',
      allocationStateTransitionTime: now,
      creationTime: now,
      lastModified: now,
      targetDedicatedNodes: 0,
      targetSpotNodes: 0,
      resizeTimeoutMs: spec.resizeTimeoutMs ?? 15 * 60_000,
      resizeErrors: [],
      taskSlotsPerNode: spec.taskSlotsPerNode ?? 1,
      version: 1,
      nodes: new Map(),
      nodeSeq: 0,
    };
    this.pools.set(key, pool);
    if ((spec.targetDedicatedNodes ?? 0) > 0 || (spec.targetSpotNodes ?? 0) > 0) {
      this.resizePool(spec.id, {
        targetDedicatedNodes: spec.targetDedicatedNodes ?? 0,
        targetSpotNodes: spec.targetSpotNodes ?? 0,
      });
    }
    return pool;
  }

  private pool(id: string): PoolRec {
    const pool = this.pools.get(id.toLowerCase());
    if (!pool) throw new EngineError('PoolNotFound', 'The specified pool does not exist.', 404);
    return pool;
  }

  /** A pool, or undefined. */
  getPool(id: string): EnginePool | undefined {
    return this.pools.get(id.toLowerCase());
  }

  /** Every pool, in creation order. */
  listPools(): EnginePool[] {
    return [...this.pools.values()];
  }

  /** A pool's nodes. */
  listNodes(poolId: string): EngineNode[] {
    return [...this.pool(poolId).nodes.values()];
  }

  /** Node counts of a pool by priority (Batch counts preempted spot nodes as current). */
  currentNodes(poolId: string): { dedicated: number; spot: number } {
    let dedicated = 0;
    let spot = 0;
    for (const n of this.pool(poolId).nodes.values()) {
      if (n.priority === 'dedicated') dedicated++;
      else spot++;
    }
    return { dedicated, spot };
  }

  /**
   * Sets a pool's targets. 409 `PoolBeingResized` while a resize or removal is in progress,
   * as Batch does. What the account's core quota cannot hold is not allocated and shows as
   * a resize error (`AccountCoreQuotaReached` / `AccountLowPriorityCoreQuotaReached`).
   */
  resizePool(
    poolId: string,
    target: {
      targetDedicatedNodes: number;
      targetSpotNodes: number;
      resizeTimeoutMs?: number;
      deallocation?: DeallocationOption;
    },
  ): void {
    const pool = this.pool(poolId);
    if (pool.state === 'deleting')
      throw new EngineError('PoolBeingDeleted', 'The specified pool is being deleted.', 409);
    this.assertSteady(pool);
    for (const [field, v] of [
      ['targetDedicatedNodes', target.targetDedicatedNodes],
      ['targetLowPriorityNodes', target.targetSpotNodes],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new EngineError(
          'InvalidPropertyValue',
          'The value provided for one of the properties in the request body is invalid.',
          400,
          [
            { key: 'PropertyName', value: field },
            { key: 'PropertyValue', value: String(v) },
          ],
        );
      }
    }
    const timeoutMs = target.resizeTimeoutMs ?? pool.resizeTimeoutMs;
    pool.targetDedicatedNodes = target.targetDedicatedNodes;
    pool.targetSpotNodes = target.targetSpotNodes;
    pool.resizeErrors = [];
    this.setAllocation(pool, 'resizing');
    this.holdResizing(pool);
    const errors: { code: string; message: string }[] = [];
    for (const priority of ['dedicated', 'spot'] as const) {
      const want = priority === 'dedicated' ? target.targetDedicatedNodes : target.targetSpotNodes;
      const present = [...pool.nodes.values()].filter((n) => n.priority === priority && !n.leaving);
      if (present.length < want) {
        const room = this.quotaRoom(priority, nodeCores(pool.spec.vmSize));
        const allowed = Math.min(want, present.length + room.nodes);
        if (allowed < want) {
          errors.push({
            code: priority === 'dedicated' ? 'AccountCoreQuotaReached' : 'AccountLowPriorityCoreQuotaReached',
            message: `The specified account has reached its ${priority === 'dedicated' ? 'dedicated' : 'low-priority'} core quota (${room.limit}); ${want - allowed} requested nodes could not be allocated.`,
          });
        }
        for (let i = present.length; i < allowed; i++) this.createNode(pool, priority);
      } else if (present.length > want) {
        const order: Record<string, number> = {
          preempted: 0,
          starttaskfailed: 0,
          unusable: 0,
          creating: 1,
          starting: 1,
          waitingforstarttask: 1,
          rebooting: 1,
          idle: 2,
          running: 3,
        };
        const victims = present
          .sort((a, b) => (order[a.state] ?? 4) - (order[b.state] ?? 4) || a.tasks.size - b.tasks.size)
          .slice(0, present.length - want);
        for (const n of victims) this.leaveNode(pool, n, target.deallocation ?? 'requeue');
      }
    }
    if (errors.length > 0) {
      pool.resizeErrors = errors;
      for (const error of errors) this.emitCapacity({ type: 'quotaReached', poolId: pool.id, error });
    }
    if (pool.resizeTimer) clearTimeout(pool.resizeTimer);
    pool.resizeTimer = setTimeout(() => {
      pool.resizeTimer = undefined;
      if (pool.allocationState === 'steady' || this.closed) return;
      pool.resizeErrors = [
        ...pool.resizeErrors,
        {
          code: 'ResizeTimedOut',
          message: 'Desired number of nodes could not be allocated as the resize timeout was reached.',
        },
      ];
      this.setAllocation(pool, 'steady');
      this.emitCapacity({ type: 'resizeFailed', poolId: pool.id, error: pool.resizeErrors.at(-1)! });
    }, timeoutMs);
    pool.resizeTimer.unref();
    this.checkAllocation(pool);
  }

  /**
   * How many more nodes of a priority the account's quotas let in, each of `cores` vCPUs,
   * and the binding limit in words (for the resize error).
   */
  private quotaRoom(priority: 'dedicated' | 'spot', cores: number): { nodes: number; limit: string } {
    const q = this.options.quota;
    const nodeQuota = priority === 'dedicated' ? q?.dedicatedNodes : q?.spotNodes;
    const coreQuota = priority === 'dedicated' ? q?.dedicatedCores : q?.lowPriorityCores;
    let usedNodes = 0;
    let usedCores = 0;
    for (const p of this.pools.values()) {
      const c = nodeCores(p.spec.vmSize);
      for (const n of p.nodes.values()) {
        if (n.priority !== priority || n.leaving) continue;
        usedNodes++;
        usedCores += c;
      }
    }
    let nodes = Number.MAX_SAFE_INTEGER;
    let limit = 'unlimited';
    if (nodeQuota !== undefined) {
      nodes = Math.max(0, nodeQuota - usedNodes);
      limit = `${nodeQuota} nodes`;
    }
    if (coreQuota !== undefined) {
      const byCores = Math.max(0, Math.floor((coreQuota - usedCores) / cores));
      if (byCores < nodes) {
        nodes = byCores;
        limit = `${coreQuota} cores, ${usedCores} in use, ${cores} per node`;
      }
    }
    return { nodes, limit };
  }

  /** 409 `PoolBeingResized` unless the pool's allocation is steady. */
  private assertSteady(pool: PoolRec): void {
    if (pool.allocationState !== 'steady') {
      throw new EngineError(
        'PoolBeingResized',
        'The specified pool is being resized: a resize or node removal is in progress.',
        409,
      );
    }
  }

  /** With `resizeTimeMs`, keeps the pool `resizing` for that long from now. */
  private holdResizing(pool: PoolRec): void {
    const ms = this.options.resizeTimeMs;
    if (ms === undefined || ms <= 0) return;
    pool.settleAt = Date.now() + ms;
    if (pool.settleTimer) clearTimeout(pool.settleTimer);
    pool.settleTimer = setTimeout(() => {
      // The hold ends when its timer fires: timers run on the monotonic clock and may fire
      // before Date.now() reaches settleAt, and nothing else would look again.
      pool.settleTimer = undefined;
      pool.settleAt = undefined;
      if (!this.closed) this.checkAllocation(pool);
    }, ms);
    pool.settleTimer.unref();
  }

  /** Stops a resize: nodes not yet allocated are dropped; the pool becomes steady at its current size. */
  stopResize(poolId: string): void {
    const pool = this.pool(poolId);
    if (pool.allocationState === 'steady') return;
    pool.settleAt = undefined;
    this.setAllocation(pool, 'stopping');
    for (const n of [...pool.nodes.values()]) {
      if (n.state === 'creating') this.dropNode(pool, n);
    }
    const current = this.currentNodes(pool.id);
    pool.targetDedicatedNodes = current.dedicated;
    pool.targetSpotNodes = current.spot;
    this.checkAllocation(pool);
  }

  /** Removes named nodes (at most 100, only while steady), lowering the targets. */
  removeNodes(
    poolId: string,
    nodeIds: readonly string[],
    deallocation: DeallocationOption = 'requeue',
  ): void {
    const pool = this.pool(poolId);
    if (nodeIds.length === 0 || nodeIds.length > 100) {
      throw new EngineError(
        'InvalidPropertyValue',
        'The value provided for one of the properties in the request body is invalid.',
        400,
        [
          { key: 'PropertyName', value: 'nodeList' },
          { key: 'Reason', value: 'between 1 and 100 node ids are allowed' },
        ],
      );
    }
    this.assertSteady(pool);
    const nodes = nodeIds.map((id) => {
      const n = pool.nodes.get(id);
      if (!n)
        throw new EngineError('NodeNotFound', `The specified node ${id} does not exist in the pool.`, 404);
      return n;
    });
    this.setAllocation(pool, 'resizing');
    this.holdResizing(pool);
    for (const n of nodes) {
      if (n.leaving) continue;
      if (n.priority === 'dedicated') pool.targetDedicatedNodes = Math.max(0, pool.targetDedicatedNodes - 1);
      else pool.targetSpotNodes = Math.max(0, pool.targetSpotNodes - 1);
      this.leaveNode(pool, n, deallocation);
    }
    this.checkAllocation(pool);
  }

  /** Deletes a pool: its nodes go (their tasks are requeued). */
  deletePool(poolId: string): void {
    const pool = this.pool(poolId);
    if (pool.state === 'deleting') return;
    pool.state = 'deleting';
    pool.lastModified = new Date();
    if (pool.resizeTimer) clearTimeout(pool.resizeTimer);
    if (pool.settleTimer) clearTimeout(pool.settleTimer);
    for (const n of [...pool.nodes.values()]) this.leaveNode(pool, n, 'requeue');
    this.after(0, () => this.pools.delete(pool.id.toLowerCase()));
  }

  /** Preempts a spot node now: its running tasks are killed and requeued without using up retries. */
  preemptNode(poolId: string, nodeId: string): void {
    const pool = this.pool(poolId);
    const node = pool.nodes.get(nodeId);
    if (!node)
      throw new EngineError('NodeNotFound', `The specified node ${nodeId} does not exist in the pool.`, 404);
    if (node.priority !== 'spot' || node.state === 'preempted' || node.leaving) return;
    this.requeueNodeTasks(node);
    // The VM is gone: its start task, preparation or release processes go with it.
    for (const p of node.procs) p.kill();
    node.generation++;
    node.prepared.clear();
    node.prepFailed.clear();
    this.setNodeState(node, 'preempted');
    this.emitCapacity({ type: 'nodePreempted', poolId: pool.id, nodeId: node.id });
    const recovery = this.options.spotRecoveryMs ?? 30_000;
    if (recovery >= 0) {
      const gen = node.generation;
      this.after(recovery, () => {
        if (node.generation === gen && pool.nodes.get(node.id) === node) this.boot(pool, node);
      });
    }
    this.schedule();
  }

  /**
   * Preempts a share of a pool's busy (else any ready) spot nodes, chosen by the seeded
   * random source. Returns the preempted node ids.
   */
  preemptSpotNodes(poolId: string, count: number): string[] {
    const pool = this.pool(poolId);
    const spot = [...pool.nodes.values()].filter(
      (n) => n.priority === 'spot' && READY.has(n.state) && !n.leaving,
    );
    spot.sort((a, b) => b.tasks.size - a.tasks.size || this.random() - 0.5);
    const chosen = spot.slice(0, count).map((n) => n.id);
    for (const id of chosen) this.preemptNode(poolId, id);
    return chosen;
  }

  /** Reboots a node: running tasks are requeued; job preparation runs again before the next task. */
  rebootNode(poolId: string, nodeId: string): void {
    const pool = this.pool(poolId);
    const node = pool.nodes.get(nodeId);
    if (!node)
      throw new EngineError('NodeNotFound', `The specified node ${nodeId} does not exist in the pool.`, 404);
    this.requeueNodeTasks(node);
    // The VM is gone: its start task, preparation or release processes go with it.
    for (const p of node.procs) p.kill();
    node.generation++;
    node.prepared.clear();
    node.prepFailed.clear();
    this.setNodeState(node, 'rebooting');
    const gen = node.generation;
    this.after(this.bootDelay() / 2, () => {
      if (node.generation === gen) this.boot(pool, node, 'starting');
    });
    this.schedule();
  }

  private bootDelay(): number {
    return this.options.bootDelayMs ?? 0;
  }

  private setAllocation(pool: PoolRec, state: PoolRec['allocationState']): void {
    pool.allocationState = state;
    pool.allocationStateTransitionTime = new Date();
    pool.lastModified = pool.allocationStateTransitionTime;
    pool.version++;
  }

  private checkAllocation(pool: PoolRec): void {
    if (pool.allocationState === 'steady') return;
    if (pool.settleAt !== undefined && Date.now() < pool.settleAt && pool.allocationState === 'resizing')
      return;
    pool.settleAt = undefined;
    for (const n of pool.nodes.values()) {
      if (n.state === 'creating' || n.leaving) return;
    }
    const failed = pool.resizeErrors.length > 0;
    this.setAllocation(pool, 'steady');
    if (pool.resizeTimer) {
      clearTimeout(pool.resizeTimer);
      pool.resizeTimer = undefined;
    }
    this.emitCapacity(
      failed
        ? { type: 'resizeFailed', poolId: pool.id, error: pool.resizeErrors[0]! }
        : { type: 'resizeCompleted', poolId: pool.id },
    );
  }

  private createNode(pool: PoolRec, priority: 'dedicated' | 'spot'): void {
    pool.nodeSeq++;
    const id = `tvmps_${pool.id}_${priority === 'dedicated' ? 'd' : 'p'}${String(pool.nodeSeq).padStart(4, '0')}`;
    const now = new Date();
    const node: NodeRec = {
      id,
      poolId: pool.id,
      priority,
      state: 'creating',
      stateTransitionTime: now,
      allocationTime: now,
      runningTasks: 0,
      runningSlots: 0,
      totalTasksRun: 0,
      rootDir: path.join(this.rootDir, 'nodes', id),
      errors: [],
      tasks: new Set(),
      prepared: new Map(),
      prepFailed: new Set(),
      generation: 0,
      readyOnce: false,
      procs: new Set(),
    };
    pool.nodes.set(id, node);
    this.boot(pool, node);
  }

  /** Node state machine: creating → starting → (waitingforstarttask) → idle, or starttaskfailed. */
  private boot(pool: PoolRec, node: NodeRec, from: 'creating' | 'starting' = 'creating'): void {
    const gen = ++node.generation;
    node.readyOnce = false;
    this.setNodeState(node, from);
    const half = this.bootDelay() / 2;
    const start = (): void => {
      if (node.generation !== gen) return;
      this.setNodeState(node, 'starting');
      this.checkAllocation(pool);
      this.after(half, () => {
        if (node.generation !== gen) return;
        node.lastBootTime = new Date();
        for (const d of ['shared', 'startup', 'workitems', 'fsmounts']) {
          fs.mkdirSync(path.join(node.rootDir, d), { recursive: true });
        }
        this.mountAll(pool, node);
        const st = pool.spec.startTask;
        if (!st) return this.nodeReady(pool, node);
        const wait = st.waitForSuccess ?? true;
        node.startTaskInfo = { state: 'running' };
        if (wait) this.setNodeState(node, 'waitingforstarttask');
        else this.nodeReady(pool, node);
        const dir = path.join(node.rootDir, 'startup');
        void this.runCommand(node, st, dir, path.join(dir, 'wd'), this.nodeEnv(node)).then((exitCode) => {
          if (node.generation !== gen) return;
          node.startTaskInfo = { state: 'completed', exitCode };
          if (!wait) return;
          if (exitCode === 0) this.nodeReady(pool, node);
          else {
            node.errors = [
              { code: 'StartTaskFailed', message: `The start task exited with code ${exitCode}.` },
            ];
            this.setNodeState(node, 'starttaskfailed');
            this.emitCapacity({
              type: 'nodeFailed',
              poolId: pool.id,
              nodeId: node.id,
              error: { code: 'StartTaskFailed', message: `The start task exited with code ${exitCode}.` },
            });
          }
        });
      });
    };
    if (from === 'creating') this.after(this.options.resizeTimeMs ?? half, start);
    else start();
  }

  /**
   * Mounts the pool's file systems on a node as Batch does at join: each at
   * `fsmounts/<relativeMountPath>`, here a link to the directory standing in for the share, with
   * a `<type>-<dir>.log` beside it. A stand-in that does not exist leaves the mount missing.
   */
  private mountAll(pool: PoolRec, node: NodeRec): void {
    const base = path.join(node.rootDir, 'fsmounts');
    for (const m of pool.spec.mounts ?? []) {
      const target = path.join(base, ...m.relativeMountPath.split('/'));
      const logType =
        m.kind === 'azureBlob'
          ? 'blobfuse'
          : m.kind === 'azureFiles'
            ? 'fshare'
            : m.kind === 'cifs'
              ? 'cifs'
              : 'nfs';
      const log = path.join(base, `${logType}-${m.relativeMountPath.replace(/\//g, '_')}.log`);
      const standIn = this.shareDir(m.source);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.rmSync(target, { force: true, recursive: false });
      if (!fs.existsSync(standIn)) {
        fs.writeFileSync(
          log,
          `mount ${m.source} on ${target} failed: no such share (stand-in ${standIn} is missing)\n`,
        );
        continue;
      }
      fs.symlinkSync(standIn, target, 'dir');
      fs.writeFileSync(log, `mounted ${m.source} on ${target} (local stand-in ${standIn})\n`);
    }
  }

  /** The local directory standing in for a share. */
  private shareDir(source: string): string {
    const listed = this.options.shares?.[source];
    if (listed !== undefined) return path.resolve(listed);
    const dir = path.join(this.rootDir, 'shares', source.replace(/[^A-Za-z0-9._-]+/g, '_'));
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  private nodeReady(pool: PoolRec, node: NodeRec): void {
    this.setNodeState(node, node.tasks.size > 0 ? 'running' : 'idle');
    if (!node.readyOnce) {
      node.readyOnce = true;
      this.emitCapacity({ type: 'nodeReady', poolId: pool.id, nodeId: node.id });
    }
    this.schedule();
  }

  private setNodeState(node: NodeRec, state: BatchNodeState): void {
    if (node.state === state) return;
    node.state = state;
    node.stateTransitionTime = new Date();
  }

  private leaveNode(pool: PoolRec, node: NodeRec, deallocation: DeallocationOption): void {
    if (node.leaving) return;
    node.leaving = deallocation;
    if (deallocation === 'requeue') this.requeueNodeTasks(node);
    else if (deallocation === 'terminate') {
      for (const t of [...node.tasks]) {
        t.terminating = true;
        t.proc?.kill();
      }
    }
    this.setNodeState(node, 'leavingpool');
    this.maybeDropLeaving(pool, node);
  }

  private maybeDropLeaving(pool: PoolRec, node: NodeRec): void {
    if (node.leaving && node.tasks.size === 0) this.dropNode(pool, node);
  }

  private dropNode(pool: PoolRec, node: NodeRec): void {
    node.generation++;
    for (const p of node.procs) p.kill();
    pool.nodes.delete(node.id);
    this.emitCapacity({ type: 'nodeRemoved', poolId: pool.id, nodeId: node.id });
    this.checkAllocation(pool);
    this.schedule();
  }

  private requeueNodeTasks(node: NodeRec): void {
    for (const t of [...node.tasks]) {
      t.proc?.kill();
      this.releaseSlot(t, node);
      t.attempt++;
      t.requeueCount++;
      t.lastRequeueTime = new Date();
      t.nodeId = undefined;
      this.setTaskState(t, 'active');
      const job = this.jobs.get(t.jobId.toLowerCase());
      job?.queue.push(t);
      this.emitTask('preempted', t);
    }
  }

  // ---------------------------------------------------------------- jobs

  /** Adds a job. `JobExists` if the id is taken. */
  addJob(spec: EngineJobSpec): EngineJob {
    const key = spec.id.toLowerCase();
    if (this.jobs.has(key)) throw new EngineError('JobExists', 'The specified job already exists.', 409);
    const jobQuota = this.options.quota?.activeJobs;
    if (jobQuota !== undefined && this.activeJobCount() >= jobQuota) {
      throw new EngineError(
        'ActiveJobAndScheduleQuotaReached',
        'Active job and schedule quota for the account has been reached.',
        409,
        [{ key: 'Quota', value: String(jobQuota) }],
      );
    }
    const now = new Date();
    const job: JobRec = {
      spec,
      id: spec.id,
      poolId: spec.poolId,
      state: 'active',
      stateTransitionTime: now,
      creationTime: now,
      lastModified: now,
      version: 1,
      tasks: new Map(),
      queue: [],
      qHead: 0,
      counts: { active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 },
      seq: 0,
      nodesUsed: new Set(),
      nodeRuns: new Map(),
    };
    this.jobs.set(key, job);
    return job;
  }

  /** Jobs that count against the active-job quota: every job not completed (completed jobs have no limit). */
  activeJobCount(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (j.state !== 'completed') n++;
    return n;
  }

  /**
   * Changes what Batch lets change on a live job: `onAllTasksComplete` (from `noaction` to
   * `terminatejob`, not back; a job whose tasks are all complete then ends at once) and the
   * default retry count. 409 `JobCompleted` / `JobNotActive` unless the job is active.
   */
  updateJob(
    id: string,
    change: {
      readonly onAllTasksComplete?: 'noaction' | 'terminatejob';
      readonly maxTaskRetryCount?: number;
    },
  ): EngineJob {
    const job = this.job(id);
    if (job.state !== 'active') {
      throw new EngineError(
        job.state === 'completed' ? 'JobCompleted' : 'JobNotActive',
        `The specified job is in the ${job.state} state.`,
        409,
      );
    }
    if (change.onAllTasksComplete === 'noaction' && job.spec.onAllTasksComplete === 'terminatejob') {
      throw new EngineError(
        'InvalidPropertyValue',
        'The value provided for one of the properties in the request body is invalid.',
        400,
        [
          { key: 'PropertyName', value: 'onAllTasksComplete' },
          { key: 'Reason', value: 'terminatejob cannot be changed back to noaction' },
        ],
      );
    }
    job.spec = {
      ...job.spec,
      ...(change.onAllTasksComplete !== undefined ? { onAllTasksComplete: change.onAllTasksComplete } : {}),
      ...(change.maxTaskRetryCount !== undefined ? { maxTaskRetryCount: change.maxTaskRetryCount } : {}),
    };
    job.lastModified = new Date();
    job.version++;
    this.maybeEndJob(job);
    return job;
  }

  /** With `onAllTasksComplete: terminatejob`, ends the job once no task is active or running. */
  private maybeEndJob(job: JobRec): void {
    if (
      job.state === 'active' &&
      job.spec.onAllTasksComplete === 'terminatejob' &&
      job.counts.active + job.counts.running === 0
    ) {
      void this.terminateJob(job.id, 'AllTasksComplete').catch(() => undefined);
    }
  }

  /** Where the job's preparation and release ran, per node (`JobPreparationTaskNotSpecified` without one). */
  jobNodeStatus(id: string): EngineJobNodeStatus[] {
    const job = this.job(id);
    if (!job.spec.preparation) {
      throw new EngineError(
        'JobPreparationTaskNotSpecified',
        'The specified job does not have job preparation task.',
        409,
      );
    }
    return [...job.nodeRuns.values()].map((r) => ({ ...r }));
  }

  private noteJobTaskRun(
    job: JobRec,
    node: NodeRec,
    which: 'preparation' | 'release',
    run: EngineJobTaskRun,
  ): void {
    const rec = job.nodeRuns.get(node.id) ?? { poolId: node.poolId, nodeId: node.id };
    rec[which] = run;
    job.nodeRuns.set(node.id, rec);
  }

  private job(id: string): JobRec {
    const job = this.jobs.get(id.toLowerCase());
    if (!job) throw new EngineError('JobNotFound', 'The specified job does not exist.', 404);
    return job;
  }

  /** A job, or undefined. */
  getJob(id: string): EngineJob | undefined {
    return this.jobs.get(id.toLowerCase());
  }

  /** Every job. */
  listJobs(): EngineJob[] {
    return [...this.jobs.values()];
  }

  /**
   * Ends a job: running tasks are killed (completed, failed, `TaskEnded`), then the release
   * command runs on every node that ran the job; then the job is `completed`.
   */
  terminateJob(id: string, reason = 'UserTerminate'): Promise<void> {
    const job = this.job(id);
    if (job.state === 'completed')
      throw new EngineError('JobCompleted', 'The specified job is already in a completed state.', 409);
    if (job.state === 'terminating' || job.state === 'deleting') return job.release ?? Promise.resolve();
    this.setJobState(job, 'terminating');
    job.terminateReason = reason;
    job.release = this.endJob(job).then(() => {
      if (job.state === 'terminating') this.setJobState(job, 'completed');
      job.endTime = new Date();
    });
    return job.release;
  }

  private async endJob(job: JobRec): Promise<void> {
    const running = [...job.tasks.values()].filter((t) => t.state === 'running' || t.state === 'preparing');
    for (const t of running) {
      t.terminating = true;
      t.proc?.kill();
    }
    // Let the killed tasks report before release runs.
    await Promise.all(running.map((t) => t.proc?.done));
    const release = job.spec.release;
    if (!release) return;
    await Promise.all(
      [...job.nodesUsed].map(async (node) => {
        const pool = this.pools.get(node.poolId.toLowerCase());
        if (!pool || pool.nodes.get(node.id) !== node) return;
        const dir = path.join(node.rootDir, 'workitems', job.id, 'job-1', 'jobrelease');
        const startTime = new Date();
        this.noteJobTaskRun(job, node, 'release', { state: 'running', startTime, taskDir: dir });
        const exitCode = await this.runCommand(
          node,
          {
            ...release,
            maxWallClockMs: Math.min(
              release.maxWallClockMs ?? 15 * 60_000,
              this.options.releaseTimeoutMs ?? 15 * 60_000,
            ),
          },
          dir,
          path.join(dir, 'wd'),
          this.jobEnv(node, job, 'jobrelease', path.join(dir, 'wd'), dir),
        );
        this.noteJobTaskRun(job, node, 'release', {
          state: 'completed',
          startTime,
          endTime: new Date(),
          exitCode,
          result: exitCode === 0 ? 'success' : 'failure',
          taskDir: dir,
        });
      }),
    );
  }

  /** Deletes a job: ends it (without waiting for release) and forgets it and its tasks. */
  deleteJob(id: string): void {
    const job = this.job(id);
    if (job.state === 'active') void this.terminateJob(id, 'UserTerminate');
    this.setJobState(job, 'deleting');
    this.after(0, () => this.jobs.delete(job.id.toLowerCase()));
  }

  private setJobState(job: JobRec, state: JobRec['state']): void {
    job.state = state;
    job.stateTransitionTime = new Date();
    job.lastModified = job.stateTransitionTime;
    job.version++;
  }

  // ---------------------------------------------------------------- tasks

  /** Adds a task. `TaskExists` if its id (case-insensitively) is taken in the job. */
  addTask(jobId: string, spec: EngineTaskSpec): EngineTask {
    const job = this.job(jobId);
    if (job.state !== 'active') {
      throw new EngineError(
        job.state === 'completed' ? 'JobCompleted' : 'JobNotActive',
        `The specified job is in the ${job.state} state; tasks cannot be added.`,
        409,
      );
    }
    const key = spec.id.toLowerCase();
    if (job.tasks.has(key)) throw new EngineError('TaskExists', 'The specified task already exists.', 409);
    const now = new Date();
    const task: TaskRec = {
      jobId: job.id,
      id: spec.id,
      spec,
      seq: ++job.seq,
      creationTime: now,
      state: 'active',
      stateTransitionTime: now,
      retryCount: 0,
      requeueCount: 0,
      version: 1,
      attempt: 0,
      key,
    };
    job.tasks.set(key, task);
    job.counts.active++;
    job.queue.push(task);
    this.emitTask('added', task);
    this.schedule();
    return task;
  }

  /** A task, or undefined. */
  getTask(jobId: string, taskId: string): EngineTask | undefined {
    return this.job(jobId).tasks.get(taskId.toLowerCase());
  }

  /** Every task of a job, in the order they were added. */
  listTasks(jobId: string): Iterable<EngineTask> {
    return this.job(jobId).tasks.values();
  }

  /** Task counts of a job (preparing counts as running, as in Batch). */
  taskCounts(jobId: string): EngineTaskCounts {
    return { ...this.job(jobId).counts };
  }

  /** Ends a task: kills its whole process tree if running. `TaskCompleted` if already done. */
  terminateTask(jobId: string, taskId: string): void {
    const task = this.job(jobId).tasks.get(taskId.toLowerCase());
    if (!task) throw new EngineError('TaskNotFound', 'The specified task does not exist.', 404);
    if (task.state === 'completed')
      throw new EngineError('TaskCompleted', 'The specified task is already completed.', 409);
    task.terminating = true;
    if (task.state === 'active') {
      this.complete(task, {
        failure: { category: 'usererror', code: 'TaskEnded', message: 'Task Was Ended by User Request' },
      });
    } else task.proc?.kill();
  }

  /**
   * Deletes a task, as Batch's Delete Task: a running one is killed first (its process
   * group), then it is forgotten with its counts. 404 `TaskNotFound`.
   */
  deleteTask(jobId: string, taskId: string): void {
    const job = this.job(jobId);
    const task = job.tasks.get(taskId.toLowerCase());
    if (!task) throw new EngineError('TaskNotFound', 'The specified task does not exist.', 404);
    job.tasks.delete(task.key);
    const bucket = task.state === 'preparing' ? 'running' : task.state;
    job.counts[bucket]--;
    if (task.result === 'success') job.counts.succeeded--;
    else if (task.result === 'failure') job.counts.failed--;
    // Whatever still runs is stale from now on: its outcome is dropped.
    task.attempt++;
    task.terminating = true;
    task.proc?.kill();
    if (task.nodeId) {
      const node = this.pools.get(job.poolId.toLowerCase())?.nodes.get(task.nodeId);
      if (node) {
        this.releaseSlot(task, node);
        this.maybeDropLeaving(this.pool(node.poolId), node);
      }
    }
    task.state = 'completed';
    this.maybeEndJob(job);
    this.schedule();
  }

  /**
   * Makes a failed task eligible to run again, as Batch's Reactivate Task: its retry count
   * goes back to 0 and it is queued. 409 `TaskNotCompleted` unless it completed,
   * `TaskSucceeded` if it succeeded, `JobNotActive` / `JobCompleted` unless its job is active.
   */
  reactivateTask(jobId: string, taskId: string): EngineTask {
    const job = this.job(jobId);
    const task = job.tasks.get(taskId.toLowerCase());
    if (!task) throw new EngineError('TaskNotFound', 'The specified task does not exist.', 404);
    if (job.state !== 'active') {
      throw new EngineError(
        job.state === 'completed' ? 'JobCompleted' : 'JobNotActive',
        `The specified job is in the ${job.state} state.`,
        409,
      );
    }
    if (task.state !== 'completed') {
      throw new EngineError(
        'TaskNotCompleted',
        'The specified task is not in a completed state, and the requested operation can be performed only on completed tasks.',
        409,
      );
    }
    if (task.result === 'success') {
      throw new EngineError(
        'TaskSucceeded',
        'The specified task has already completed successfully, and the requested operation cannot be performed on successful tasks.',
        409,
      );
    }
    job.counts.failed--;
    task.retryCount = 0;
    task.terminating = false;
    task.result = undefined;
    task.exitCode = undefined;
    task.failureInfo = undefined;
    task.endTime = undefined;
    task.nodeId = undefined;
    this.setTaskState(task, 'active');
    job.queue.push(task);
    this.schedule();
    return task;
  }

  private setTaskState(task: TaskRec, state: TaskRec['state']): void {
    const job = this.jobs.get(task.jobId.toLowerCase());
    if (job) {
      const bucket = (s: TaskRec['state']): 'active' | 'running' | 'completed' =>
        s === 'preparing' ? 'running' : s;
      job.counts[bucket(task.state)]--;
      job.counts[bucket(state)]++;
    }
    task.previousState = task.state;
    task.previousStateTransitionTime = task.stateTransitionTime;
    task.state = state;
    task.stateTransitionTime = new Date();
    task.version++;
  }

  private complete(task: TaskRec, outcome: { exitCode?: number; failure?: TaskRec['failureInfo'] }): void {
    task.exitCode = outcome.exitCode;
    task.failureInfo = outcome.failure;
    task.result = outcome.failure ? 'failure' : 'success';
    task.endTime = new Date();
    this.setTaskState(task, 'completed');
    const job = this.jobs.get(task.jobId.toLowerCase());
    if (job) {
      if (task.result === 'success') job.counts.succeeded++;
      else job.counts.failed++;
    }
    this.emitTask('completed', task);
    if (job) this.maybeEndJob(job);
  }

  // ---------------------------------------------------------------- scheduling

  /** Coalesces scheduling passes: one per turn of the event loop, however many changes. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.closed) this.runSchedule();
    });
  }

  private runSchedule(): void {
    for (const job of this.jobs.values()) {
      if (job.state !== 'active' || job.qHead >= job.queue.length) continue;
      const pool = this.pools.get(job.poolId.toLowerCase());
      if (!pool || pool.state !== 'active') continue;
      const nodes = [...pool.nodes.values()].filter(
        (n) => READY.has(n.state) && !n.leaving && !n.prepFailed.has(job.id),
      );
      while (job.qHead < job.queue.length) {
        const task = job.queue[job.qHead]!;
        if (task.state !== 'active' || task.nodeId !== undefined) {
          job.qHead++;
          continue;
        }
        const slots = task.spec.requiredSlots ?? 1;
        // Spread: the node with the most free slots.
        let best: NodeRec | undefined;
        for (const n of nodes) {
          if (
            pool.taskSlotsPerNode - n.runningSlots >= slots &&
            (!best || n.runningSlots < best.runningSlots)
          )
            best = n;
        }
        if (!best) break;
        job.qHead++;
        this.assign(job, task, best);
      }
      if (job.qHead > 1024 && job.qHead * 2 > job.queue.length) {
        job.queue = job.queue.slice(job.qHead);
        job.qHead = 0;
      }
    }
  }

  private assign(job: JobRec, task: TaskRec, node: NodeRec): void {
    const slots = task.spec.requiredSlots ?? 1;
    node.tasks.add(task);
    node.runningTasks = node.tasks.size;
    node.runningSlots += slots;
    node.totalTasksRun++;
    this.setNodeState(node, 'running');
    job.nodesUsed.add(node);
    task.attempt++;
    task.nodeId = node.id;
    task.taskDir = path.join(node.rootDir, 'workitems', job.id, 'job-1', task.id);
    this.setTaskState(task, 'preparing');
    void this.execute(job, task, node, task.attempt, node.generation).catch(() => undefined);
  }

  private releaseSlot(task: TaskRec, node: NodeRec): void {
    if (!node.tasks.delete(task)) return;
    node.runningTasks = node.tasks.size;
    node.runningSlots = Math.max(0, node.runningSlots - (task.spec.requiredSlots ?? 1));
    if (node.state === 'running' && node.tasks.size === 0) this.setNodeState(node, 'idle');
  }

  private async execute(
    job: JobRec,
    task: TaskRec,
    node: NodeRec,
    attempt: number,
    gen: number,
  ): Promise<void> {
    const stale = (): boolean => task.attempt !== attempt || node.generation !== gen || this.closed;
    const prep = job.spec.preparation;
    if (prep) {
      let done = node.prepared.get(job.id);
      if (!done) {
        done = this.prepare(job, node, prep);
        node.prepared.set(job.id, done);
      }
      const ok = await done;
      if (stale()) return;
      if (!ok && (prep.waitForSuccess ?? true)) {
        // As Batch: the job's tasks no longer run on this node; this one goes back to the queue.
        node.prepFailed.add(job.id);
        this.releaseSlot(task, node);
        task.nodeId = undefined;
        this.setTaskState(task, 'active');
        job.queue.push(task);
        this.maybeDropLeaving(this.pool(node.poolId), node);
        this.schedule();
        return;
      }
    }
    const taskDir = task.taskDir!;
    const wd = path.join(taskDir, 'wd');
    await fs.promises.mkdir(wd, { recursive: true });
    let failure: TaskRec['failureInfo'];
    let exitCode: number | undefined;
    try {
      if (task.spec.resourceFiles?.length) {
        await downloadResourceFiles(task.spec.resourceFiles, wd, {
          timeoutMs: this.options.transferTimeoutMs,
        });
      }
    } catch (e) {
      failure = { category: 'usererror', code: 'ResourceFileDownloadError', message: (e as Error).message };
    }
    if (stale()) return;
    if (task.terminating) {
      failure = { category: 'usererror', code: 'TaskEnded', message: 'Task Was Ended by User Request' };
    } else if (!failure) {
      task.startTime = new Date();
      this.setTaskState(task, 'running');
      this.emitTask('started', task);
      const proc = runProcess({
        commandLine: task.spec.commandLine,
        cwd: wd,
        env: this.jobEnv(node, job, task.id, wd, taskDir, task.spec.environment),
        stdoutPath: path.join(taskDir, 'stdout.txt'),
        stderrPath: path.join(taskDir, 'stderr.txt'),
        maxWallClockMs: task.spec.maxWallClockMs ?? job.spec.maxWallClockMs,
        niceness: this.options.niceness ?? 0,
      });
      task.proc = proc;
      node.procs.add(proc);
      const outcome = await proc.done;
      node.procs.delete(proc);
      if (task.proc === proc) task.proc = undefined;
      if (stale()) return;
      exitCode = outcome.exitCode;
      if (task.terminating) {
        failure = { category: 'usererror', code: 'TaskEnded', message: 'Task Was Ended by User Request' };
      } else if (outcome.timedOut) {
        failure = {
          category: 'usererror',
          code: 'MaxWallClockTimeExpiry',
          message: 'The task exceeded its maximum wall clock time.',
        };
      } else if (outcome.spawnError) {
        failure = { category: 'usererror', code: 'CommandProgramNotFound', message: outcome.spawnError };
      } else if (exitCode !== 0) {
        failure = {
          category: 'usererror',
          code: 'FailureExitCode',
          message: `The task exited with exit code ${exitCode}`,
        };
      }
      if (task.spec.outputFiles?.length) {
        try {
          await uploadOutputFiles(task.spec.outputFiles, wd, !failure, {
            timeoutMs: this.options.transferTimeoutMs,
          });
        } catch (e) {
          failure = { category: 'usererror', code: 'FileUploadError', message: (e as Error).message };
        }
        if (stale()) return;
      }
    }
    this.releaseSlot(task, node);
    const maxRetries = task.spec.maxTaskRetryCount ?? job.spec.maxTaskRetryCount ?? 0;
    if (failure && !task.terminating && (maxRetries === -1 || task.retryCount < maxRetries)) {
      task.retryCount++;
      task.lastRetryTime = new Date();
      task.nodeId = undefined;
      task.exitCode = exitCode;
      this.setTaskState(task, 'active');
      job.queue.push(task);
      this.emitTask('retrying', task);
    } else {
      this.complete(task, {
        ...(exitCode !== undefined ? { exitCode } : {}),
        ...(failure ? { failure } : {}),
      });
    }
    this.maybeDropLeaving(this.pool(node.poolId), node);
    this.schedule();
  }

  private async prepare(
    job: JobRec,
    node: NodeRec,
    prep: NonNullable<EngineJobSpec['preparation']>,
  ): Promise<boolean> {
    const dir = path.join(node.rootDir, 'workitems', job.id, 'job-1', 'jobpreparation');
    const wd = path.join(dir, 'wd');
    const startTime = new Date();
    this.noteJobTaskRun(job, node, 'preparation', { state: 'running', startTime, taskDir: dir });
    const done = (exitCode: number | undefined): boolean => {
      const ok = exitCode === 0;
      this.noteJobTaskRun(job, node, 'preparation', {
        state: 'completed',
        startTime,
        endTime: new Date(),
        ...(exitCode !== undefined ? { exitCode } : {}),
        result: ok ? 'success' : 'failure',
        taskDir: dir,
      });
      return ok;
    };
    try {
      await fs.promises.mkdir(wd, { recursive: true });
      if (prep.resourceFiles?.length) {
        await downloadResourceFiles(prep.resourceFiles, wd, { timeoutMs: this.options.transferTimeoutMs });
      }
    } catch {
      return done(undefined);
    }
    const exitCode = await this.runCommand(
      node,
      prep,
      dir,
      wd,
      this.jobEnv(node, job, 'jobpreparation', wd, dir),
    );
    return done(exitCode);
  }

  /** Runs a node-level command (start task, preparation, release); resolves to its exit code. */
  private async runCommand(
    node: NodeRec,
    cmd: EngineCommand,
    dir: string,
    wd: string,
    env: NodeJS.ProcessEnv,
  ): Promise<number> {
    await fs.promises.mkdir(wd, { recursive: true });
    const proc = runProcess({
      commandLine: cmd.commandLine,
      cwd: wd,
      env: { ...env, ...cmd.environment },
      stdoutPath: path.join(dir, 'stdout.txt'),
      stderrPath: path.join(dir, 'stderr.txt'),
      ...(cmd.maxWallClockMs !== undefined ? { maxWallClockMs: cmd.maxWallClockMs } : {}),
      niceness: this.options.niceness ?? 0,
    });
    node.procs.add(proc);
    const outcome = await proc.done;
    node.procs.delete(proc);
    return outcome.exitCode;
  }

  private nodeEnv(node: NodeRec): NodeJS.ProcessEnv {
    const base: NodeJS.ProcessEnv = {};
    for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'USER']) {
      if (process.env[k] !== undefined) base[k] = process.env[k];
    }
    return {
      ...base,
      ...this.options.nodeEnvironment,
      AZ_BATCH_ACCOUNT_NAME: this.options.accountName ?? 'local',
      AZ_BATCH_POOL_ID: node.poolId,
      AZ_BATCH_NODE_ID: node.id,
      AZ_BATCH_NODE_IS_DEDICATED: node.priority === 'dedicated' ? 'true' : 'false',
      AZ_BATCH_NODE_ROOT_DIR: node.rootDir,
      AZ_BATCH_NODE_SHARED_DIR: path.join(node.rootDir, 'shared'),
      AZ_BATCH_NODE_MOUNTS_DIR: path.join(node.rootDir, 'fsmounts'),
      AZ_BATCH_NODE_STARTUP_DIR: path.join(node.rootDir, 'startup'),
      AZ_BATCH_TASK_WORKING_DIR: path.join(node.rootDir, 'startup', 'wd'),
      AZ_BATCH_TASK_DIR: path.join(node.rootDir, 'startup'),
    };
  }

  private jobEnv(
    node: NodeRec,
    job: JobRec,
    taskId: string,
    wd: string,
    taskDir: string,
    taskEnv?: Readonly<Record<string, string>>,
  ): NodeJS.ProcessEnv {
    const prepDir = path.join(node.rootDir, 'workitems', job.id, 'job-1', 'jobpreparation');
    return {
      ...this.nodeEnv(node),
      ...job.spec.environment,
      ...taskEnv,
      AZ_BATCH_JOB_ID: job.id,
      AZ_BATCH_TASK_ID: taskId,
      AZ_BATCH_TASK_DIR: taskDir,
      AZ_BATCH_TASK_WORKING_DIR: wd,
      ...(job.spec.preparation
        ? { AZ_BATCH_JOB_PREP_DIR: prepDir, AZ_BATCH_JOB_PREP_WORKING_DIR: path.join(prepDir, 'wd') }
        : {}),
    };
  }

  /** Stops everything: kills every process, clears timers, removes its own temporary directory. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.preemptTimer) clearInterval(this.preemptTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const waits: Promise<unknown>[] = [];
    for (const pool of this.pools.values()) {
      if (pool.resizeTimer) clearTimeout(pool.resizeTimer);
      if (pool.settleTimer) clearTimeout(pool.settleTimer);
      for (const n of pool.nodes.values()) {
        for (const p of n.procs) {
          p.kill();
          waits.push(p.done);
        }
      }
    }
    await Promise.all(waits);
    if (this.ownsRoot) await fs.promises.rm(this.rootDir, { recursive: true, force: true });
  }
}
