/**
 * The compute backend contract: capacity groups of nodes (an Azure Batch pool, a VM Scale
 * Set, or the local engine's simulated pool) and, for frame offload, jobs and tasks on
 * them. The service talks to every backend through these interfaces only.
 *
 * Conventions (Azure SDK guidelines): one options bag last with `abortSignal`; durations
 * in `...Ms`; deleting something missing succeeds; errors are `ComputeError`s.
 */

import type { MountSpec } from '../storage/mounts';

/** Node states, following Azure Batch's compute node states. */
export type NodeState =
  | 'creating'
  | 'starting'
  | 'waitingForStartTask'
  | 'idle'
  | 'running'
  | 'preempted'
  | 'startTaskFailed'
  | 'unusable'
  | 'leaving'
  | 'offline';

/** Pricing class of a node. */
export type NodePriority = 'dedicated' | 'spot';

/** Options every async backend call takes. */
export interface OperationOptions {
  /** Aborts the call (and any retry or long-running poll it is doing). */
  readonly abortSignal?: AbortSignal;
}

/** The shape of a capacity group that every backend understands. */
export interface GroupSpec {
  /** Unique name: 1-64 characters of `[a-z0-9-]`, starting with a letter. */
  readonly name: string;
  /** VM size, e.g. `Standard_D16as_v5`. Free text for the local engine. */
  readonly vmSize: string;
  /** Tasks that may run at once on one node. @default 1 */
  readonly taskSlotsPerNode?: number;
  /** Upper bound for dedicated nodes; targets above it are rejected. */
  readonly maxDedicatedNodes: number;
  /** Upper bound for spot nodes; targets above it are rejected. */
  readonly maxSpotNodes: number;
  /** OS image. Backends that need one reject a spec without it. */
  readonly image?: {
    readonly publisher?: string;
    readonly offer?: string;
    readonly sku?: string;
    readonly version?: string;
    readonly virtualMachineImageId?: string;
    readonly nodeAgentSkuId?: string;
  };
  /** Command run on every node as it joins, before it takes work. @default none */
  readonly startTaskCommand?: string;
  /** Subnet resource id the nodes join (Batch `networkConfiguration.subnetId`). @default none (the backend's own network) */
  readonly subnetId?: string;
  /** How long a resize may take before it is reported failed. @default 15 minutes */
  readonly resizeTimeoutMs?: number;
  /**
   * File systems mounted on every node (Batch `mountConfiguration`, scale-set start-up, a
   * local directory standing in for the share on the local engine). @default none
   */
  readonly mounts?: readonly MountSpec[];
  /**
   * GPUs per node. Azure backends know them from the VM size; the local engine, whose sizes
   * are free text, reports this. @default from the VM size (`gpusOfVmSize`), else 0
   */
  readonly gpusPerNode?: number;
}

/** Node counts by state, split by priority. */
export type NodeCounts = Partial<Record<NodeState, { readonly dedicated: number; readonly spot: number }>>;

/** An error a backend reported for a group (resize error, quota, allocation failure). */
export interface GroupError {
  /** Backend error code, e.g. `AccountCoreQuotaReached`. */
  readonly code: string;
  /** Backend message, never with a credential in it. */
  readonly message: string;
  /** When it was first seen. */
  readonly observedAt: Date;
}

/** A capacity group's live state. */
export interface GroupStatus {
  readonly name: string;
  readonly state: 'creating' | 'steady' | 'resizing' | 'deleting' | 'failed';
  readonly targetDedicatedNodes: number;
  readonly targetSpotNodes: number;
  readonly currentDedicatedNodes: number;
  readonly currentSpotNodes: number;
  readonly nodeCounts: NodeCounts;
  readonly errors: readonly GroupError[];
  /** The backend's own id: Batch pool id, scale set resource id, local pool id. */
  readonly backendId: string;
}

/** One node of a group. */
export interface ComputeNode {
  readonly id: string;
  readonly group: string;
  readonly state: NodeState;
  readonly priority: NodePriority;
  readonly runningTasks: number;
  readonly createdAt: Date;
  /** Scale sets: protected from scale-in. */
  readonly protectedFromScaleIn?: boolean;
  /** GPUs of the node (from its VM size). @default 0 */
  readonly gpus?: number;
  /** Scale sets: the instance's host name (`osProfile.computerName`), the name its worker joins the farm with. */
  readonly hostName?: string;
}

/** Resize targets. */
export interface ResizeTarget {
  readonly dedicated: number;
  readonly spot: number;
}

/** Options of a resize. */
export interface ResizeOptions extends OperationOptions {
  /** What happens to tasks on removed nodes. @default 'taskCompletion' (drain) */
  readonly deallocation?: 'taskCompletion' | 'requeue';
  /** Overrides the group's resize timeout. */
  readonly resizeTimeoutMs?: number;
}

/** A change to a group's capacity, surfaced as early as the backend can see it. */
export interface CapacityEvent {
  readonly type:
    | 'nodeReady'
    | 'nodePreempted'
    | 'nodeFailed'
    | 'nodeRemoved'
    | 'resizeCompleted'
    | 'resizeFailed'
    | 'quotaReached';
  readonly group: string;
  readonly nodeId?: string;
  readonly error?: GroupError;
  readonly time: Date;
}

/**
 * Which implementation a backend is: the built-in `local`, `batch` and `scaleset`, or any
 * other a service registers (see `BackendRegistry`). Open on purpose: a new backend needs no
 * change here.
 */
export type BackendKind = 'local' | 'batch' | 'scaleset' | (string & {});

/** Capacity management: what every backend does, worker burst (scale sets) included. */
export interface CapacityBackend {
  /** Which implementation this is. */
  readonly kind: BackendKind;
  /** Creates the group or reconciles an existing one towards the spec. Idempotent. */
  ensureGroup(spec: GroupSpec, options?: OperationOptions): Promise<GroupStatus>;
  /** A group's status, or undefined when there is no such group. */
  getGroup(name: string, options?: OperationOptions): Promise<GroupStatus | undefined>;
  /** Every group this backend manages. */
  listGroups(options?: OperationOptions): Promise<GroupStatus[]>;
  /** Sets target node counts. A resize while resizing waits for the current one; never a raw 409. */
  resizeGroup(name: string, target: ResizeTarget, options?: ResizeOptions): Promise<GroupStatus>;
  /**
   * Deletes the group and its nodes; frame-offload backends also end the group's active
   * jobs (they would count against the account's job quota forever). Deleting a missing
   * group succeeds.
   */
  deleteGroup(name: string, options?: OperationOptions): Promise<void>;
  /** The group's nodes. */
  listNodes(group: string, options?: OperationOptions): Promise<ComputeNode[]>;
  /** Removes named (idle) nodes. */
  removeNodes(group: string, nodeIds: readonly string[], options?: OperationOptions): Promise<void>;
  /** Subscribes to capacity events; returns the unsubscribe function. */
  onCapacityEvent(listener: (event: CapacityEvent) => void): () => void;
  /** Releases timers, pollers and connections. Idempotent. */
  close(): Promise<void>;
}

/** A file a task needs before it runs, downloaded into its working directory. */
export interface ResourceFile {
  /** A single blob or HTTP URL (with SAS for private blobs). */
  readonly httpUrl?: string;
  /** A whole container (with SAS): every blob under `blobPrefix` is downloaded. */
  readonly storageContainerUrl?: string;
  /** With `storageContainerUrl`: only blobs under this prefix. */
  readonly blobPrefix?: string;
  /** Destination, relative to the task's working directory (a directory for containers). */
  readonly filePath?: string;
  /** Unix file mode, e.g. `0755`. */
  readonly fileMode?: string;
}

/** Files a task uploads when it ends. */
export interface OutputFileSpec {
  /** Glob relative to the task's working directory, e.g. `out/*.png`. */
  readonly filePattern: string;
  /** Container URL with a write SAS. */
  readonly containerUrl: string;
  /** Blob name, or prefix when the pattern matches several files. */
  readonly path: string;
  /** When to upload. */
  readonly uploadCondition: 'taskSuccess' | 'taskFailure' | 'taskCompletion';
}

/** A command a job or task runs. Runs under `/bin/sh -c` on Linux nodes. */
export interface CommandSpec {
  readonly commandLine: string;
  readonly environment?: Readonly<Record<string, string>>;
  readonly resourceFiles?: readonly ResourceFile[];
  /** Wall-clock limit. @default none */
  readonly maxWallClockMs?: number;
}

/** A job: a set of tasks on one group, with preparation and release steps per node. */
export interface ComputeJobSpec {
  /** Job id, 1-64 characters of `[A-Za-z0-9_-]`. */
  readonly id: string;
  /** The group to run on. */
  readonly group: string;
  /** Runs once per node before the node's first task of the job, and again after a reboot: must be idempotent. */
  readonly preparation?: CommandSpec;
  /** Runs once per node that ran the job, when the job ends. */
  readonly release?: CommandSpec;
  /** Environment for every task. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Default retries of a failing task (preemptions do not count). -1 is unlimited. @default 0 */
  readonly maxTaskRetryCount?: number;
}

/** One task of a job. */
export interface ComputeTaskSpec extends CommandSpec {
  /** Task id, unique in the job: 1-64 characters of `[A-Za-z0-9_-]`. */
  readonly id: string;
  readonly outputFiles?: readonly OutputFileSpec[];
  /** Overrides the job's retry count. */
  readonly maxTaskRetryCount?: number;
}

/** Outcome of adding tasks: every id is either added now or was already there, identically. */
export interface AddTasksResult {
  readonly added: readonly string[];
  /** Ids that existed with the same spec (an earlier, interrupted call added them). */
  readonly alreadyExisted: readonly string[];
}

/** Task states, as Batch has them. */
export type TaskState = 'active' | 'preparing' | 'running' | 'completed';

/** A task's state as the backend reports it. */
export interface TaskInfo {
  readonly jobId: string;
  readonly taskId: string;
  readonly state: TaskState;
  /** On completed tasks. */
  readonly result?: 'success' | 'failure';
  readonly exitCode?: number;
  /** Attempts that failed and were retried. */
  readonly retryCount: number;
  /** Attempts lost to preemption (do not count as retries). */
  readonly requeueCount: number;
  readonly nodeId?: string;
  readonly startTime?: Date;
  readonly endTime?: Date;
  readonly stateTransitionTime: Date;
  /**
   * Why a completed task failed. Code `TASK_LOST_CODE` means the backend lost the task
   * (its process or node died with nothing recorded): the attempt says nothing about the
   * frame, which the service hands over again.
   */
  readonly failure?: { readonly code: string; readonly message: string };
}

/** `TaskInfo.failure.code` of a task the backend lost (see `TaskInfo.failure`). */
export const TASK_LOST_CODE = 'TaskLost';

/** Task counts of a job. */
export interface TaskCounts {
  readonly active: number;
  readonly running: number;
  readonly completed: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** A change to one task. */
export interface TaskEvent {
  readonly type: 'started' | 'preempted' | 'retrying' | 'completed';
  readonly task: TaskInfo;
  readonly time: Date;
}

/** Options of a task listing. */
export interface ListTasksOptions extends OperationOptions {
  /** Only tasks in this state. */
  readonly state?: TaskState;
  /** Only tasks whose state changed after this time. */
  readonly changedSince?: Date;
}

/**
 * What a failed call of a {@link ComputeBackend} means for the frames it carried; the frame
 * dispatcher acts on it and never looks into a backend's errors itself.
 * - `wait`: the account is full (Azure Batch's active-job quota) and frees itself as other
 *   jobs end: the frames wait, for as long as it takes, as they wait for nodes. Not a fault.
 * - `retry`: a transient fault (throttled, busy, timed out, the network): retried with
 *   backoff, a bounded number of times.
 * - `fail`: retrying cannot help (refused, not found, a bad spec): the frames fail, naming it.
 */
export type FaultKind = 'wait' | 'retry' | 'fail';

/** Frame offload: capacity plus jobs and tasks (Azure Batch, the local engine). */
export interface ComputeBackend extends CapacityBackend {
  /** What an error thrown by a call for the job `jobId` means (see {@link FaultKind}). */
  faultKind(jobId: string, error: unknown): FaultKind;
  /**
   * Creates the job. Idempotent: an existing active job with the same id and group is fine.
   * An existing job that has ended (terminated: a job cannot be reopened) is replaced by a
   * new one with the same id, once the old one is deleted.
   */
  createJob(spec: ComputeJobSpec, options?: OperationOptions): Promise<void>;
  /**
   * Adds tasks. Idempotent by task id: a retry after a fault re-sends the same ids and an
   * identical existing task counts as added; no task is ever created twice.
   */
  addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    options?: OperationOptions,
  ): Promise<AddTasksResult>;
  /** A task's state, or undefined when there is no such task. */
  getTask(jobId: string, taskId: string, options?: OperationOptions): Promise<TaskInfo | undefined>;
  /** Tasks of a job, filtered; an async iterable so large jobs are paged. */
  listTasks(jobId: string, options?: ListTasksOptions): AsyncIterable<TaskInfo>;
  /** Task counts of a job. */
  getTaskCounts(jobId: string, options?: OperationOptions): Promise<TaskCounts>;
  /** Ends a task: kills it if running (whole process tree). Terminating a finished task succeeds. */
  terminateTask(jobId: string, taskId: string, options?: OperationOptions): Promise<void>;
  /** Ends a job: kills its running tasks, runs release steps. Idempotent. */
  terminateJob(jobId: string, options?: OperationOptions): Promise<void>;
  /** Deletes a job and its tasks. Deleting a missing job succeeds. */
  deleteJob(jobId: string, options?: OperationOptions): Promise<void>;
  /** Subscribes to task events of every job; returns the unsubscribe function. */
  onTaskEvent(listener: (event: TaskEvent) => void): () => void;
  /**
   * A file from a task's directory on its node (`filePath` relative to it, e.g.
   * `wd/out/outputs.json`), as Batch's Get File From Task serves it; undefined when the
   * task, its node or the file is gone. Optional: callers fall back to what the task uploaded.
   */
  readTaskFile?(
    jobId: string,
    taskId: string,
    filePath: string,
    options?: OperationOptions,
  ): Promise<Buffer | undefined>;
  /**
   * Part of a file in a task's directory, for following a log as it grows: at most
   * `range.maxBytes` from `range.offset` (nothing when the file is not longer), and the
   * file's size when it was read. Batch: Get File Properties From Task, then Get File From
   * Task with `ocp-range`. Undefined when the task, its node or the file is gone.
   */
  readTaskFileRange?(
    jobId: string,
    taskId: string,
    filePath: string,
    range: TaskFileRange,
    options?: OperationOptions,
  ): Promise<TaskFilePart | undefined>;
}

/** Which bytes of a task file to read. */
export interface TaskFileRange {
  /** First byte. */
  readonly offset: number;
  /** Most bytes to return. */
  readonly maxBytes: number;
}

/** Bytes of a task file, and how long the file was. */
export interface TaskFilePart {
  /** The bytes from the range's offset; empty when the file is not longer than it. */
  readonly data: Buffer;
  /** The file's size when it was read. */
  readonly size: number;
}
