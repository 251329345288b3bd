import type { CapacityEvent, CommandSpec, OutputFileSpec } from '../backend';
import type { BatchNodeState } from '../batch-vocabulary/states';

export type { BatchNodeState };

/** What happens to running tasks of a node that leaves the pool (Batch's `nodeDeallocationOption`). */
export type DeallocationOption = 'requeue' | 'terminate' | 'taskcompletion' | 'retaineddata';

/** A command the engine runs under `/bin/sh -c`: the contract's command, as Batch's. */
export type EngineCommand = CommandSpec;

/** A pool of simulated nodes. */
export interface EnginePoolSpec {
  /** Pool id (case-insensitively unique). */
  readonly id: string;
  /** Free text; reported back. */
  readonly vmSize: string;
  /** GPUs each node reports. @default from the VM size when it is a known Azure N-series size, else 0 */
  readonly gpusPerNode?: number;
  /** @default 1 */
  readonly taskSlotsPerNode?: number;
  /** Runs on every node as it joins; a failure leaves the node `starttaskfailed`. @default none */
  readonly startTask?: EngineCommand & {
    /** Hold the node in `waitingforstarttask` until it succeeds. @default true */
    readonly waitForSuccess?: boolean;
  };
  /** @default 0 */
  readonly targetDedicatedNodes?: number;
  /** @default 0 */
  readonly targetSpotNodes?: number;
  /** @default 15 minutes */
  readonly resizeTimeoutMs?: number;
  /** Opaque name/value pairs kept with the pool (Batch pool metadata). @default none */
  readonly metadata?: readonly { readonly name: string; readonly value: string }[];
}

/** A job on a pool. */
export interface EngineJobSpec {
  readonly id: string;
  readonly poolId: string;
  /** Runs once per node before its first task of the job, again after a reboot. @default none */
  readonly preparation?: EngineCommand & {
    /** Tasks wait for it to succeed. @default true */
    readonly waitForSuccess?: boolean;
    /** Rerun after a reboot even when it succeeded. @default true */
    readonly rerunOnNodeRebootAfterSuccess?: boolean;
  };
  /** Runs on every node that ran the preparation, when the job ends. @default none */
  readonly release?: EngineCommand;
  /** Environment of every task. @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** Default retries of a failing task; -1 is unlimited. @default 0 */
  readonly maxTaskRetryCount?: number;
  /** Default wall-clock limit of a task. @default none */
  readonly maxWallClockMs?: number;
  /** `terminatejob` ends the job when every task has completed. @default 'noaction' */
  readonly onAllTasksComplete?: 'noaction' | 'terminatejob';
}

/** A task of a job. */
export interface EngineTaskSpec extends EngineCommand {
  readonly id: string;
  readonly displayName?: string;
  readonly outputFiles?: readonly OutputFileSpec[];
  /** Overrides the job's retry count. */
  readonly maxTaskRetryCount?: number;
  /** Slots the task takes on a node. @default 1 */
  readonly requiredSlots?: number;
}

/** A failure as Batch reports it in `failureInfo`. */
export interface EngineFailure {
  readonly category: 'usererror' | 'servererror';
  readonly code: string;
  readonly message: string;
}

/** A task's live record. Read-only to callers. */
export interface EngineTask {
  readonly jobId: string;
  readonly id: string;
  readonly spec: EngineTaskSpec;
  /** Insertion order within the job; stable for paging. */
  readonly seq: number;
  readonly creationTime: Date;
  readonly state: 'active' | 'preparing' | 'running' | 'completed';
  readonly previousState?: 'active' | 'preparing' | 'running' | 'completed';
  readonly stateTransitionTime: Date;
  readonly previousStateTransitionTime?: Date;
  readonly retryCount: number;
  readonly requeueCount: number;
  readonly lastRetryTime?: Date;
  readonly lastRequeueTime?: Date;
  readonly exitCode?: number;
  readonly result?: 'success' | 'failure';
  readonly failureInfo?: EngineFailure;
  readonly startTime?: Date;
  readonly endTime?: Date;
  readonly nodeId?: string;
  /** The task's directory on its node (holds `stdout.txt`, `stderr.txt` and `wd/`). */
  readonly taskDir?: string;
  /** Bumped on every change (Batch's eTag). */
  readonly version: number;
}

/** A node's live record. */
export interface EngineNode {
  readonly id: string;
  readonly poolId: string;
  readonly priority: 'dedicated' | 'spot';
  readonly state: BatchNodeState;
  readonly stateTransitionTime: Date;
  readonly allocationTime: Date;
  readonly lastBootTime?: Date;
  readonly runningTasks: number;
  readonly runningSlots: number;
  readonly totalTasksRun: number;
  readonly rootDir: string;
  readonly startTaskInfo?: { readonly state: 'running' | 'completed'; readonly exitCode?: number };
  readonly errors: readonly { readonly code: string; readonly message: string }[];
}

/** A pool's live record. */
export interface EnginePool {
  readonly spec: EnginePoolSpec;
  readonly id: string;
  readonly state: 'active' | 'deleting';
  readonly allocationState: 'steady' | 'resizing' | 'stopping';
  readonly allocationStateTransitionTime: Date;
  readonly creationTime: Date;
  readonly lastModified: Date;
  readonly targetDedicatedNodes: number;
  readonly targetSpotNodes: number;
  readonly resizeTimeoutMs: number;
  readonly resizeErrors: readonly { readonly code: string; readonly message: string }[];
  readonly taskSlotsPerNode: number;
  readonly version: number;
}

/** A job's live record. */
export interface EngineJob {
  readonly spec: EngineJobSpec;
  readonly id: string;
  readonly poolId: string;
  readonly state: 'active' | 'terminating' | 'completed' | 'deleting';
  readonly stateTransitionTime: Date;
  readonly creationTime: Date;
  readonly lastModified: Date;
  readonly endTime?: Date;
  readonly terminateReason?: string;
  readonly version: number;
}

/** Task counts, as Batch's `taskCounts`. */
export interface EngineTaskCounts {
  readonly active: number;
  readonly running: number;
  readonly completed: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** A change to a task. */
export interface EngineTaskEvent {
  readonly type: 'added' | 'started' | 'preempted' | 'retrying' | 'completed';
  readonly task: EngineTask;
  readonly time: Date;
}

/** A change to a pool's capacity. */
export interface EngineCapacityEvent {
  readonly type: CapacityEvent['type'];
  readonly poolId: string;
  readonly nodeId?: string;
  readonly error?: { readonly code: string; readonly message: string };
  readonly time: Date;
}
