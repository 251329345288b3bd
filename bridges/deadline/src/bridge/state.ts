/**
 * The bridge's own small durable state: which Deadline tasks it took out of local dispatch
 * and where each stands, tasks that must stay local, and the service's watch cursor. Written
 * atomically (temporary file, fsync, rename) after every change, and BEFORE the action it
 * describes where that matters (a task is recorded as `suspending` before it is suspended),
 * so a restarted bridge can tell its suspensions from a user's.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '@spillway/sdk/state';

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
  readonly taskId: number;
  phase: TaskPhase;
  /** The cloud frame id, once submitted. */
  frameId?: string;
  /** Directory the cloud frame renders into (inside the output directory), when staged. */
  staging?: string;
  /** Verify that every frame of the task names an output file (Blender's `####`). */
  expectFrameNumbers?: boolean;
  /** The job's output directory (mapped), where outputs are placed. */
  outputDir?: string;
  /** Frames the task renders (inclusive). */
  frameStart?: number;
  frameEnd?: number;
  /** Files (relative to the output directory) placed so far for this task. */
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
}

/** The key of a task in the state. */
export const taskKey = (jobId: string, taskId: number): string => `${jobId}:${taskId}`;

/** Loads and saves the state file. */
export class BridgeStateStore {
  private state: BridgeState;

  constructor(
    /** The state file. */
    readonly file: string,
  ) {
    this.state = BridgeStateStore.read(file);
  }

  private static read(file: string): BridgeState {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, cursor: '', tasks: {} };
      throw err;
    }
    const parsed = JSON.parse(text) as BridgeState;
    if (parsed.version !== 1)
      throw new Error(`${file}: unknown state version ${JSON.stringify(parsed.version)}`);
    return parsed;
  }

  /** The current state (read only; change it through `update`). */
  get current(): Readonly<BridgeState> {
    return this.state;
  }

  /** A task's record. */
  task(jobId: string, taskId: number): TaskRecord | undefined {
    return this.state.tasks[taskKey(jobId, taskId)];
  }

  /** Applies `change` and writes the state durably. */
  update(change: (s: BridgeState) => void): void {
    change(this.state);
    writeFileAtomic(this.file, JSON.stringify(this.state));
  }
}
