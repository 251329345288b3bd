import { gpusOfVmSize } from '../vm-sizes';
import { FailedPreconditionError, NotFoundError } from '../../errors';
import type {
  AddTasksResult,
  CapacityEvent,
  ComputeBackend,
  FaultKind,
  ComputeJobSpec,
  ComputeNode,
  ComputeTaskSpec,
  GroupSpec,
  GroupStatus,
  ListTasksOptions,
  NodeCounts,
  NodeState,
  OperationOptions,
  ResizeOptions,
  ResizeTarget,
  TaskCounts,
  TaskEvent,
  TaskFilePart,
  TaskFileRange,
  TaskInfo,
} from '../backend';
import {
  MAX_NODES_PER_REMOVE,
  validateGroupSpec,
  validateId,
  validateJobSpec,
  validateResizeTarget,
  nodeStateOf,
  validateTasks,
} from '../batch-vocabulary';
import { LocalEngine, type LocalEngineOptions } from './engine';
import { batchFaultKind } from '../batch/errors';
import { EngineError } from './errors';
import { readTaskDirFile, readTaskDirFileRange } from './files';
import type { EngineMount, EnginePool, EngineTask, EngineTaskSpec } from './types';
import { relativeMountPathOf, type MountSpec } from '../../storage/mounts';
import { sleep } from '../../retry';

/** Options of the local backend. */
export interface LocalComputeBackendOptions extends LocalEngineOptions {
  /** Use this engine instead of creating one (it is then not closed by `close()`). @default a new engine */
  readonly engine?: LocalEngine;
}

/** A pool as a contract group status. */
export function groupStatusOf(
  pool: EnginePool,
  nodes: readonly { state: string; priority: 'dedicated' | 'spot' }[],
): GroupStatus {
  const counts: Partial<Record<NodeState, { dedicated: number; spot: number }>> = {};
  let dedicated = 0;
  let spot = 0;
  for (const n of nodes) {
    const s = nodeStateOf(n.state);
    const c = (counts[s] ??= { dedicated: 0, spot: 0 });
    c[n.priority]++;
    if (n.priority === 'dedicated') dedicated++;
    else spot++;
  }
  return {
    name: pool.id,
    state: pool.state === 'deleting' ? 'deleting' : pool.allocationState === 'steady' ? 'steady' : 'resizing',
    targetDedicatedNodes: pool.targetDedicatedNodes,
    targetSpotNodes: pool.targetSpotNodes,
    currentDedicatedNodes: dedicated,
    currentSpotNodes: spot,
    nodeCounts: counts as NodeCounts,
    errors: pool.resizeErrors.map((e) => ({ ...e, observedAt: pool.allocationStateTransitionTime })),
    backendId: pool.id,
  };
}

/** A group's mount as the engine mounts it: by its source, at its relative path (no credential needed here). */
export function engineMountOf(m: MountSpec): EngineMount {
  return {
    kind: m.kind === 'azureFilesNfs' ? 'nfs' : m.kind,
    source: m.source,
    relativeMountPath: relativeMountPathOf(m),
    ...(m.mountOptions ? { mountOptions: m.mountOptions } : {}),
  };
}

/** An engine task as the contract's TaskInfo. */
export function taskInfoOf(t: EngineTask): TaskInfo {
  return {
    jobId: t.jobId,
    taskId: t.id,
    state: t.state,
    ...(t.result ? { result: t.result } : {}),
    ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
    retryCount: t.retryCount,
    requeueCount: t.requeueCount,
    ...(t.nodeId ? { nodeId: t.nodeId } : {}),
    ...(t.startTime ? { startTime: t.startTime } : {}),
    ...(t.endTime ? { endTime: t.endTime } : {}),
    stateTransitionTime: t.stateTransitionTime,
    ...(t.failureInfo ? { failure: { code: t.failureInfo.code, message: t.failureInfo.message } } : {}),
  };
}

function engineTask(t: ComputeTaskSpec): EngineTaskSpec {
  return {
    id: t.id,
    commandLine: t.commandLine,
    ...(t.environment ? { environment: t.environment } : {}),
    ...(t.resourceFiles ? { resourceFiles: t.resourceFiles } : {}),
    ...(t.outputFiles ? { outputFiles: t.outputFiles } : {}),
    ...(t.maxWallClockMs !== undefined ? { maxWallClockMs: t.maxWallClockMs } : {}),
    ...(t.maxTaskRetryCount !== undefined ? { maxTaskRetryCount: t.maxTaskRetryCount } : {}),
  };
}

/** Canonical JSON (sorted keys) for comparing specs. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

/**
 * The embedded default backend: the contract over a {@link LocalEngine} in this process.
 * Groups are pools of simulated nodes; tasks are real child processes.
 */
export class LocalComputeBackend implements ComputeBackend {
  /** The engine answers in Azure Batch's vocabulary (codes and statuses), so Batch's rule reads it. */
  faultKind(_jobId: string, error: unknown): FaultKind {
    return batchFaultKind(error);
  }

  readonly kind = 'local' as const;
  /** The engine underneath (for preemption on demand, inspection). */
  readonly engine: LocalEngine;
  private readonly ownsEngine: boolean;
  private readonly bounds = new Map<string, { maxDedicatedNodes: number; maxSpotNodes: number }>();
  private readonly taskListeners = new Set<(e: TaskEvent) => void>();
  private readonly capacityListeners = new Set<(e: CapacityEvent) => void>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(options: LocalComputeBackendOptions = {}) {
    this.ownsEngine = !options.engine;
    this.engine = options.engine ?? new LocalEngine(options);
    this.unsubscribe.push(
      this.engine.onTaskEvent((e) => {
        if (e.type === 'added') return;
        const event: TaskEvent = { type: e.type, task: taskInfoOf(e.task), time: e.time };
        for (const l of this.taskListeners) l(event);
      }),
      this.engine.onCapacityEvent((e) => {
        const event: CapacityEvent = {
          type: e.type,
          group: e.poolId,
          ...(e.nodeId ? { nodeId: e.nodeId } : {}),
          ...(e.error ? { error: { ...e.error, observedAt: e.time } } : {}),
          time: e.time,
        };
        for (const l of this.capacityListeners) l(event);
      }),
    );
  }

  private status(name: string): GroupStatus | undefined {
    const pool = this.engine.getPool(name);
    return pool ? groupStatusOf(pool, this.engine.listNodes(name)) : undefined;
  }

  async ensureGroup(spec: GroupSpec, _options?: OperationOptions): Promise<GroupStatus> {
    validateGroupSpec(spec);
    this.bounds.set(spec.name, {
      maxDedicatedNodes: spec.maxDedicatedNodes,
      maxSpotNodes: spec.maxSpotNodes,
    });
    if (!this.engine.getPool(spec.name)) {
      this.engine.addPool({
        id: spec.name,
        vmSize: spec.vmSize,
        taskSlotsPerNode: spec.taskSlotsPerNode ?? 1,
        ...(spec.startTaskCommand ? { startTask: { commandLine: spec.startTaskCommand } } : {}),
        ...(spec.resizeTimeoutMs !== undefined ? { resizeTimeoutMs: spec.resizeTimeoutMs } : {}),
        ...(spec.mounts?.length ? { mounts: spec.mounts.map(engineMountOf) } : {}),
        ...(spec.gpusPerNode ? { gpusPerNode: spec.gpusPerNode } : {}),
      });
    }
    return this.status(spec.name)!;
  }

  async getGroup(name: string, _options?: OperationOptions): Promise<GroupStatus | undefined> {
    return this.status(name);
  }

  async listGroups(_options?: OperationOptions): Promise<GroupStatus[]> {
    return this.engine.listPools().map((p) => groupStatusOf(p, this.engine.listNodes(p.id)));
  }

  private async whenSteady(name: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const pool = this.engine.getPool(name);
      if (!pool) throw new NotFoundError(`group "${name}" does not exist`);
      if (pool.allocationState === 'steady') return;
      await sleep(20);
    }
  }

  async resizeGroup(name: string, target: ResizeTarget, options: ResizeOptions = {}): Promise<GroupStatus> {
    validateResizeTarget(target, this.bounds.get(name));
    for (;;) {
      await this.whenSteady(name, options.abortSignal);
      try {
        this.engine.resizePool(name, {
          targetDedicatedNodes: target.dedicated,
          targetSpotNodes: target.spot,
          deallocation: options.deallocation === 'requeue' ? 'requeue' : 'taskcompletion',
          ...(options.resizeTimeoutMs !== undefined ? { resizeTimeoutMs: options.resizeTimeoutMs } : {}),
        });
        return this.status(name)!;
      } catch (e) {
        // Another resize slipped in between: wait for it, never surface the conflict.
        if (!(e instanceof EngineError && e.code === 'PoolBeingResized')) throw toContractError(e);
      }
    }
  }

  async deleteGroup(name: string, _options?: OperationOptions): Promise<void> {
    // As on Batch: the group's active jobs end with it (an active job would stay forever).
    for (const job of this.engine.listJobs()) {
      if (job.state === 'active' && job.poolId.toLowerCase() === name.toLowerCase())
        void this.engine.terminateJob(job.id).catch(() => undefined);
    }
    if (this.engine.getPool(name)) this.engine.deletePool(name);
    this.bounds.delete(name);
  }

  async listNodes(group: string, _options?: OperationOptions): Promise<ComputeNode[]> {
    const pool = this.engine.getPool(group);
    if (!pool) throw new NotFoundError(`group "${group}" does not exist`);
    const gpus = pool.spec.gpusPerNode ?? gpusOfVmSize(pool.spec.vmSize) ?? 0;
    return this.engine.listNodes(group).map((n) => ({
      id: n.id,
      group,
      state: nodeStateOf(n.state),
      priority: n.priority,
      runningTasks: n.runningTasks,
      createdAt: n.allocationTime,
      gpus,
    }));
  }

  async removeNodes(
    group: string,
    nodeIds: readonly string[],
    options: OperationOptions = {},
  ): Promise<void> {
    for (let i = 0; i < nodeIds.length; i += MAX_NODES_PER_REMOVE) {
      const chunk = nodeIds.slice(i, i + MAX_NODES_PER_REMOVE);
      for (;;) {
        await this.whenSteady(group, options.abortSignal);
        try {
          this.engine.removeNodes(group, chunk, 'taskcompletion');
          break;
        } catch (e) {
          if (!(e instanceof EngineError && e.code === 'PoolBeingResized')) throw toContractError(e);
        }
      }
    }
  }

  onCapacityEvent(listener: (event: CapacityEvent) => void): () => void {
    this.capacityListeners.add(listener);
    return () => this.capacityListeners.delete(listener);
  }

  async createJob(spec: ComputeJobSpec, _options?: OperationOptions): Promise<void> {
    validateJobSpec(spec);
    let existing = this.engine.getJob(spec.id);
    if (existing && existing.state !== 'active') {
      // Ended (its frames had all settled) and more come: made again, as on Batch.
      if (existing.state === 'terminating') await this.engine.terminateJob(spec.id);
      if (this.engine.getJob(spec.id)?.state === 'completed') this.engine.deleteJob(spec.id);
      while (this.engine.getJob(spec.id)) await new Promise((r) => setTimeout(r, 5));
      existing = undefined;
    }
    if (existing) {
      if (existing.poolId !== spec.group) {
        throw new FailedPreconditionError(
          `job "${spec.id}" exists on group "${existing.poolId}", not "${spec.group}"`,
        );
      }
      return;
    }
    this.engine.addJob({
      id: spec.id,
      poolId: spec.group,
      ...(spec.preparation ? { preparation: spec.preparation } : {}),
      ...(spec.release ? { release: spec.release } : {}),
      ...(spec.environment ? { environment: spec.environment } : {}),
      ...(spec.maxTaskRetryCount !== undefined ? { maxTaskRetryCount: spec.maxTaskRetryCount } : {}),
    });
  }

  async addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    _options?: OperationOptions,
  ): Promise<AddTasksResult> {
    validateId('jobId', jobId);
    validateTasks(tasks);
    if (!this.engine.getJob(jobId)) throw new NotFoundError(`job "${jobId}" does not exist`);
    const added: string[] = [];
    const alreadyExisted: string[] = [];
    for (const t of tasks) {
      const spec = engineTask({ ...t, commandLine: this.commandLineOf(jobId, t) });
      const existing = this.engine.getTask(jobId, t.id);
      if (existing) {
        if (canonical(existing.spec) !== canonical(spec)) {
          throw new FailedPreconditionError(`task "${t.id}" of job "${jobId}" exists with a different spec`);
        }
        alreadyExisted.push(t.id);
        continue;
      }
      this.engine.addTask(jobId, spec);
      added.push(t.id);
    }
    return { added, alreadyExisted };
  }

  /**
   * The command line the engine runs for a task, after the task passed Batch's checks (a
   * subclass may wrap it, e.g. to record the task's exit: the wrapper is the engine's, not
   * the caller's, and does not count against Batch's limits). @default the task's own
   */
  protected commandLineOf(_jobId: string, task: ComputeTaskSpec): string {
    return task.commandLine;
  }

  async getTask(jobId: string, taskId: string, _options?: OperationOptions): Promise<TaskInfo | undefined> {
    if (!this.engine.getJob(jobId)) return undefined;
    const t = this.engine.getTask(jobId, taskId);
    return t ? taskInfoOf(t) : undefined;
  }

  async readTaskFile(
    jobId: string,
    taskId: string,
    filePath: string,
    _options?: OperationOptions,
  ): Promise<Buffer | undefined> {
    const dir = this.engine.getJob(jobId) ? this.engine.getTask(jobId, taskId)?.taskDir : undefined;
    return dir === undefined ? undefined : readTaskDirFile(dir, filePath);
  }

  async readTaskFileRange(
    jobId: string,
    taskId: string,
    filePath: string,
    range: TaskFileRange,
    _options?: OperationOptions,
  ): Promise<TaskFilePart | undefined> {
    const dir = this.engine.getJob(jobId) ? this.engine.getTask(jobId, taskId)?.taskDir : undefined;
    return dir === undefined ? undefined : readTaskDirFileRange(dir, filePath, range.offset, range.maxBytes);
  }

  async *listTasks(jobId: string, options: ListTasksOptions = {}): AsyncIterable<TaskInfo> {
    if (!this.engine.getJob(jobId)) throw new NotFoundError(`job "${jobId}" does not exist`);
    for (const t of [...this.engine.listTasks(jobId)]) {
      if (options.state && t.state !== options.state) continue;
      if (options.changedSince && t.stateTransitionTime <= options.changedSince) continue;
      yield taskInfoOf(t);
    }
  }

  async getTaskCounts(jobId: string, _options?: OperationOptions): Promise<TaskCounts> {
    if (!this.engine.getJob(jobId)) throw new NotFoundError(`job "${jobId}" does not exist`);
    return this.engine.taskCounts(jobId);
  }

  async terminateTask(jobId: string, taskId: string, _options?: OperationOptions): Promise<void> {
    try {
      this.engine.terminateTask(jobId, taskId);
    } catch (e) {
      if (e instanceof EngineError && e.code === 'TaskCompleted') return;
      throw toContractError(e);
    }
  }

  async terminateJob(jobId: string, _options?: OperationOptions): Promise<void> {
    const job = this.engine.getJob(jobId);
    if (!job || job.state === 'completed') return;
    await this.engine.terminateJob(jobId);
  }

  async deleteJob(jobId: string, _options?: OperationOptions): Promise<void> {
    if (this.engine.getJob(jobId)) this.engine.deleteJob(jobId);
  }

  onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    this.taskListeners.add(listener);
    return () => this.taskListeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.ownsEngine) await this.engine.close();
  }
}

function toContractError(e: unknown): Error {
  if (e instanceof EngineError) {
    if (e.statusCode === 404) return new NotFoundError(e.message);
    if (e.statusCode === 409) return new FailedPreconditionError(`${e.code}: ${e.message}`);
  }
  return e as Error;
}
