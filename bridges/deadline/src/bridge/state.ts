/**
 * The bridge's own small durable state (the bridge kit's versioned JSON state file): which
 * Deadline tasks it took out of local dispatch and where each stands, tasks that must stay
 * local, and the service's watch cursor. A task is recorded as `suspending` BEFORE it is
 * suspended, so a restarted bridge can tell its suspensions from a user's.
 */
import { JsonStateFile } from '@spillway/bridge-kit';

/**
 * A Deadline task id. Deadline numbers a job's tasks 0, 1, 2...; the service's frame key
 * carries it as the decimal string `sourceTaskId`. These two functions are the only
 * conversions.
 */
export type TaskId = number;

/** The task id a frame key's `sourceTaskId` names; NaN-free (throws on anything else). */
export function taskIdOf(sourceTaskId: string): TaskId {
  if (!/^\d{1,9}$/.test(sourceTaskId))
    throw new Error(`frame key sourceTaskId "${sourceTaskId}" is not a Deadline task id`);
  return Number(sourceTaskId);
}

/** The frame key's `sourceTaskId` of a task. */
export function sourceTaskIdOf(taskId: TaskId): string {
  return String(taskId);
}

/** Where a task the bridge handles stands. */
export type TaskPhase =
  /** About to be suspended and submitted (written before the suspend). */
  | 'suspending'
  /** Suspended in Deadline with a cloud frame behind it. */
  | 'cloud'
  /** The cloud frame succeeded; outputs are being placed (the list below), then Complete. */
  | 'placing'
  /** Back to the local farm for good (the cloud frame failed or was recalled). */
  | 'local';

/** One task the bridge handles. */
export interface TaskRecord {
  readonly jobId: string;
  readonly taskId: TaskId;
  phase: TaskPhase;
  /** The cloud frame id, once submitted. */
  frameId?: string;
  /** Folder the cloud frame's outputs are staged in (inside the output folder), when fetched back. */
  staging?: string;
  /** The output folder is on a share the cloud nodes mount: outputs are verified there, not fetched. */
  inPlace?: boolean;
  /** Verify that every frame of the task names an output file. */
  expectFrameNumbers?: boolean;
  /** The job's output directory (mapped), where outputs are placed. */
  outputDir?: string;
  /** Frames the task renders (inclusive). */
  frameStart?: number;
  frameEnd?: number;
  /** Files (relative to the output directory) verified and being placed for this task. */
  placed?: string[];
  /** Why the task is local, for logs. */
  reason?: string;
}

/** The whole state. */
export interface BridgeState {
  version: 1;
  /** Resume the service's frame watch after this. */
  cursor: string;
  /** By `jobId:taskId`. */
  tasks: Record<string, TaskRecord>;
  /**
   * Limit groups whose Deadline limit the bridge has lowered by the cloud frames it holds: the
   * limit the studio set, by name. Restored (and removed) once no cloud frame holds one.
   * @default none
   */
  limits?: Record<string, number>;
}

/** The key of a task in the state. */
export const taskKey = (jobId: string, taskId: TaskId): string => `${jobId}:${taskId}`;

/** Loads and saves the state file. */
export class BridgeStateStore {
  private readonly store: JsonStateFile<BridgeState>;

  constructor(
    /** The state file. */
    readonly file: string,
  ) {
    this.store = new JsonStateFile<BridgeState>({
      file,
      version: 1,
      initial: () => ({ version: 1, cursor: '', tasks: {} }),
      check: (s) =>
        typeof s.cursor !== 'string' || !s.tasks || typeof s.tasks !== 'object'
          ? 'no cursor or tasks'
          : undefined,
    });
  }

  /** The current state (read only; change it through `update`). */
  get current(): Readonly<BridgeState> {
    return this.store.current;
  }

  /** A task's record. */
  task(jobId: string, taskId: TaskId): TaskRecord | undefined {
    return this.store.current.tasks[taskKey(jobId, taskId)];
  }

  /** Records matching `filter`. */
  records(filter: (r: TaskRecord) => boolean = () => true): TaskRecord[] {
    return Object.values(this.store.current.tasks).filter(filter);
  }

  /** Applies `change` and writes the state durably. */
  update(change: (s: BridgeState) => void): void {
    this.store.update(change);
  }

  /** Forgets tasks. */
  forget(jobId: string, taskIds: readonly TaskId[]): void {
    if (taskIds.length === 0) return;
    this.update((s) => {
      for (const id of taskIds) delete s.tasks[taskKey(jobId, id)];
    });
  }
}
