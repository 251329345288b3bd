/**
 * The backends a service's capacity groups live on, by name. Any number of each kind (two
 * Batch accounts in two regions, the local engine, a future cloud) sit side by side; a
 * group names the backend it lives on, or gets the first one registered for its burst mode
 * and kind.
 */
import { GROUP_NAME } from '../model/validate';
import { FailedPreconditionError, NotFoundError, ValidationError } from '../errors';
import { BackendKind, type CapacityGroupSpec } from '../gen/spillway/v1/capacity';
import { BurstMode } from '../gen/spillway/v1/common';
import type {
  AddTasksResult,
  CapacityBackend,
  CapacityEvent,
  ComputeBackend,
  FaultKind,
  ComputeJobSpec,
  ComputeNode,
  ComputeTaskSpec,
  GroupSpec,
  GroupStatus,
  ListTasksOptions,
  OperationOptions,
  ResizeOptions,
  ResizeTarget,
  TaskCounts,
  TaskEvent,
  TaskFilePart,
  TaskFileRange,
  TaskInfo,
} from './backend';

/** How a group adds capacity: frames run as tasks, or the farm gains workers. */
export type BurstModeName = 'frame-offload' | 'worker-burst';

/** A backend under its name. Frame offload needs jobs and tasks: a {@link ComputeBackend}. */
export type RegisteredBackend =
  | {
      /** Unique in the service, e.g. `local`, `batch-westeurope`: 1-64 of a-z 0-9 -. */
      readonly name: string;
      readonly mode: 'frame-offload';
      readonly backend: ComputeBackend;
    }
  | {
      readonly name: string;
      readonly mode: 'worker-burst';
      readonly backend: CapacityBackend;
    };

/** What a group asks for. */
export interface BackendQuery {
  readonly mode: BurstModeName;
  /** The backend's kind (`local`, `batch`, `scaleset`, ...). @default any */
  readonly kind?: string;
  /** The backend's name. @default the first registered for the mode (and kind) */
  readonly name?: string;
  /** The group asking, for the error message. */
  readonly group?: string;
}

const NAME = GROUP_NAME;

const KIND_OF_WIRE: Partial<Record<BackendKind, string>> = {
  [BackendKind.BACKEND_KIND_LOCAL]: 'local',
  [BackendKind.BACKEND_KIND_BATCH]: 'batch',
  [BackendKind.BACKEND_KIND_SCALE_SET]: 'scaleset',
};

/**
 * What a capacity group's spec asks of the registry: its mode, and the backend kind when the
 * spec names one (unspecified: the first backend registered for the mode).
 */
export function backendQueryOf(spec: Pick<CapacityGroupSpec, 'name' | 'mode' | 'backend'>): BackendQuery {
  const kind = KIND_OF_WIRE[spec.backend];
  return {
    mode: spec.mode === BurstMode.BURST_MODE_WORKER_BURST ? 'worker-burst' : 'frame-offload',
    ...(kind ? { kind } : {}),
    group: spec.name,
  };
}

/** Backends by name, in registration order. */
export class BackendRegistry {
  private readonly entries = new Map<string, RegisteredBackend>();

  constructor(backends: readonly RegisteredBackend[] = []) {
    for (const b of backends) this.add(b);
  }

  /** Registers a backend; a name is taken once. */
  add(entry: RegisteredBackend): this {
    if (!NAME.test(entry.name)) {
      throw new ValidationError(
        'backend.name',
        entry.name,
        'must be 1-64 characters of a-z 0-9 -, starting with a letter',
      );
    }
    if (this.entries.has(entry.name)) {
      throw new ValidationError('backend.name', entry.name, 'is registered already');
    }
    this.entries.set(entry.name, entry);
    return this;
  }

  /** Every registered backend, in registration order. */
  list(): RegisteredBackend[] {
    return [...this.entries.values()];
  }

  /** The frame-offload backends. */
  computeBackends(): { name: string; backend: ComputeBackend }[] {
    return this.list().flatMap((e) =>
      e.mode === 'frame-offload' ? [{ name: e.name, backend: e.backend }] : [],
    );
  }

  /** The backend by name. Throws NotFoundError. */
  get(name: string): RegisteredBackend {
    const entry = this.entries.get(name);
    if (!entry) {
      throw new NotFoundError(
        `no backend named ${JSON.stringify(name)}; configured: ${[...this.entries.keys()].join(', ') || 'none'}`,
      );
    }
    return entry;
  }

  /**
   * The backend a group lives on: the one it names (which must serve its mode), else the
   * first registered for its mode and kind. Throws FailedPreconditionError when none does.
   */
  resolve(query: BackendQuery): RegisteredBackend {
    const who = query.group ? `capacity group ${JSON.stringify(query.group)}` : 'the group';
    if (query.name) {
      const entry = this.get(query.name);
      if (entry.mode !== query.mode || (query.kind && entry.backend.kind !== query.kind)) {
        throw new FailedPreconditionError(
          `${who} asks for backend ${JSON.stringify(query.name)}, which is ${entry.backend.kind} for ${entry.mode}, not ${query.kind ?? 'any kind'} for ${query.mode}`,
        );
      }
      return entry;
    }
    const found = this.list().find(
      (e) => e.mode === query.mode && (!query.kind || e.backend.kind === query.kind),
    );
    if (!found) {
      const kind = query.kind ? `${query.kind} ` : '';
      throw new FailedPreconditionError(
        `${who} is ${query.mode}, but no ${kind}backend for ${query.mode} is configured`,
      );
    }
    return found;
  }

  /** Closes every backend (each close is idempotent). */
  async close(): Promise<void> {
    for (const e of this.list()) await e.backend.close();
  }
}

/**
 * One {@link ComputeBackend} over every frame-offload backend of a registry: each job goes to
 * the backend of its capacity group (`backendOfGroup`), task and capacity events of all of
 * them arrive here. The frame dispatcher works against this and never knows how many
 * backends there are.
 */
export class RoutedComputeBackend implements ComputeBackend {
  readonly kind = 'routed';
  private readonly jobs = new Map<string, ComputeBackend>();

  constructor(
    private readonly registry: BackendRegistry,
    /** What a capacity group asks of its backend (its spec's kind, name). */
    private readonly backendOfGroup: (group: string) => Pick<BackendQuery, 'kind' | 'name'> | undefined,
    /** A job's capacity group, for a job this process has not created (after a restart). */
    private readonly groupOfJob: (jobId: string) => string | undefined,
  ) {}

  private forGroup(group: string): ComputeBackend {
    const entry = this.registry.resolve({ ...this.backendOfGroup(group), mode: 'frame-offload', group });
    return entry.backend as ComputeBackend;
  }

  private forJob(jobId: string): ComputeBackend {
    const known = this.jobs.get(jobId);
    if (known) return known;
    const group = this.groupOfJob(jobId);
    if (group === undefined) throw new NotFoundError(`job ${JSON.stringify(jobId)} is not known`);
    const backend = this.forGroup(group);
    this.jobs.set(jobId, backend);
    return backend;
  }

  faultKind(jobId: string, error: unknown): FaultKind {
    let backend: ComputeBackend;
    try {
      backend = this.forJob(jobId);
    } catch {
      return 'fail'; // a job of no known group: nothing to retry against
    }
    return backend.faultKind(jobId, error);
  }
  async createJob(spec: ComputeJobSpec, options?: OperationOptions): Promise<void> {
    const backend = this.forGroup(spec.group);
    await backend.createJob(spec, options);
    this.jobs.set(spec.id, backend);
  }
  async addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    options?: OperationOptions,
  ): Promise<AddTasksResult> {
    return this.forJob(jobId).addTasks(jobId, tasks, options);
  }
  async getTask(jobId: string, taskId: string, options?: OperationOptions): Promise<TaskInfo | undefined> {
    return this.forJob(jobId).getTask(jobId, taskId, options);
  }
  async *listTasks(jobId: string, options?: ListTasksOptions): AsyncIterable<TaskInfo> {
    yield* this.forJob(jobId).listTasks(jobId, options);
  }
  async getTaskCounts(jobId: string, options?: OperationOptions): Promise<TaskCounts> {
    return this.forJob(jobId).getTaskCounts(jobId, options);
  }
  async terminateTask(jobId: string, taskId: string, options?: OperationOptions): Promise<void> {
    return this.forJob(jobId).terminateTask(jobId, taskId, options);
  }
  async terminateJob(jobId: string, options?: OperationOptions): Promise<void> {
    return this.forJob(jobId).terminateJob(jobId, options);
  }
  async deleteJob(jobId: string, options?: OperationOptions): Promise<void> {
    return this.forJob(jobId).deleteJob(jobId, options);
  }
  async readTaskFile(
    jobId: string,
    taskId: string,
    filePath: string,
    options?: OperationOptions,
  ): Promise<Buffer | undefined> {
    return this.forJob(jobId).readTaskFile?.(jobId, taskId, filePath, options);
  }
  async readTaskFileRange(
    jobId: string,
    taskId: string,
    filePath: string,
    range: TaskFileRange,
    options?: OperationOptions,
  ): Promise<TaskFilePart | undefined> {
    return this.forJob(jobId).readTaskFileRange?.(jobId, taskId, filePath, range, options);
  }
  onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    const offs = this.registry.computeBackends().map((e) => e.backend.onTaskEvent(listener));
    return () => offs.forEach((off) => off());
  }

  async ensureGroup(spec: GroupSpec, options?: OperationOptions): Promise<GroupStatus> {
    return this.forGroup(spec.name).ensureGroup(spec, options);
  }
  async getGroup(name: string, options?: OperationOptions): Promise<GroupStatus | undefined> {
    return this.forGroup(name).getGroup(name, options);
  }
  async listGroups(options?: OperationOptions): Promise<GroupStatus[]> {
    const all = await Promise.all(this.registry.computeBackends().map((e) => e.backend.listGroups(options)));
    return all.flat();
  }
  async resizeGroup(name: string, target: ResizeTarget, options?: ResizeOptions): Promise<GroupStatus> {
    return this.forGroup(name).resizeGroup(name, target, options);
  }
  async deleteGroup(name: string, options?: OperationOptions): Promise<void> {
    return this.forGroup(name).deleteGroup(name, options);
  }
  async listNodes(group: string, options?: OperationOptions): Promise<ComputeNode[]> {
    return this.forGroup(group).listNodes(group, options);
  }
  async removeNodes(group: string, nodeIds: readonly string[], options?: OperationOptions): Promise<void> {
    return this.forGroup(group).removeNodes(group, nodeIds, options);
  }
  onCapacityEvent(listener: (event: CapacityEvent) => void): () => void {
    const offs = this.registry.computeBackends().map((e) => e.backend.onCapacityEvent(listener));
    return () => offs.forEach((off) => off());
  }
  /** The registry owns the backends: closing the router closes nothing. */
  async close(): Promise<void> {}
}
