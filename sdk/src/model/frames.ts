/**
 * The SDK's own types for jobs, frames and frame events: what callers of `BurstClient` and
 * the service's domain code see. Plain data with string unions and Dates; the generated
 * wire types stay behind `./wire-mapping`.
 */

/** Which render manager (or tool) a job came from. */
export type SourceKind = 'deadline' | 'opencue' | 'client';

/** Where a frame is in its cloud life. */
export type FrameState =
  'queued' | 'preparing' | 'running' | 'succeeded' | 'failed' | 'recalled' | 'cancelled';

/** Frame states that never change again. */
export const TERMINAL_FRAME_STATES: ReadonlySet<FrameState> = new Set([
  'succeeded',
  'failed',
  'recalled',
  'cancelled',
]);

/** What happened to a frame. */
export type FrameEventType =
  'queued' | 'started' | 'preempted' | 'retrying' | 'succeeded' | 'failed' | 'recalled' | 'cancelled';

/** A job's overall state. */
export type JobState = 'active' | 'completed' | 'cancelled';

/** Identifies a frame by where it came from: the idempotency key of the whole system. */
export interface FrameKey {
  /** The bridge or tool that owns the frame, e.g. `deadline:studio-a`. */
  readonly source: string;
  /** The job's id in the render manager. */
  readonly sourceJobId: string;
  /** The task's id within that job. */
  readonly sourceTaskId: string;
}

/** One output file of a frame. */
export interface OutputFile {
  /** Path relative to the frame's output root. */
  readonly path: string;
  readonly sizeBytes: number;
  /** Lowercase hex SHA-256. */
  readonly sha256: string;
}

/** What every frame of a job runs, and with what. */
export interface JobSpec {
  /** The owning bridge or tool; the `source` of every frame key in the job. */
  readonly source: string;
  /** @default 'client' */
  readonly sourceKind?: SourceKind;
  /** The job's id in the render manager. */
  readonly sourceJobId: string;
  /** Human-readable name. @default the source job id */
  readonly name?: string;
  /** Capacity group to run in. @default the service's default group */
  readonly capacityGroup?: string;
  /** Command per frame with frame tokens (`#FRAME#`, `#ZFRAME#`, `#FRAME_START#`, ...). */
  readonly commandTemplate: string;
  /** Asset manifest the frames need. @default none */
  readonly assetManifestId?: string;
  /** Output globs relative to the task directory. @default ['out/**'] */
  readonly outputPatterns?: readonly string[];
  /** Where the bridge puts the outputs (informational for the service). */
  readonly outputDestination?: string;
  /**
   * The output path is on a share the job's capacity group mounts: nodes write the outputs
   * there (temporary name, then rename) instead of uploading them, and the bridge verifies
   * them in place. @default none (outputs come back through Blob Storage)
   */
  readonly sharedOutput?: SharedOutput;
  /** Environment for every frame. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Cloud retries before the frame goes back to the local farm; evictions do not count. @default 0 */
  readonly maxRetries?: number;
  /** 0-100, higher first. @default 50 */
  readonly priority?: number;
  /** When the job must be done. @default none */
  readonly deadline?: Date;
  /** Wall-clock limit of one attempt. @default none */
  readonly frameTimeoutMs?: number;
  /**
   * GPUs each frame needs on its node. A job that needs none is a CPU job: it never runs on
   * a GPU capacity group; a job that needs some runs only on a group whose nodes have that
   * many, and its renderer's GPU flags are added there. @default 0 (a CPU job)
   */
  readonly gpus?: number;
}

/** Where on a capacity group's mount a job's outputs are written. */
export interface SharedOutput {
  /** The mount's name (in the job's capacity group). */
  readonly mount: string;
  /** The directory below the mount's root, `/`-separated; '' for the root. */
  readonly path: string;
}

/** One frame or chunk to run. */
export interface FrameSpec {
  /** The task's id in the render manager. */
  readonly sourceTaskId: string;
  readonly frameStart: number;
  /** Inclusive; at least `frameStart`. */
  readonly frameEnd: number;
  /** @default 1 */
  readonly frameStep?: number;
  /** A complete command replacing the job's template for this frame. */
  readonly command?: string;
  /** Environment for this frame, over the job's. */
  readonly environment?: Readonly<Record<string, string>>;
}

/** A frame as the service knows it. */
export interface Frame {
  readonly key: FrameKey;
  readonly frameId: string;
  readonly jobId: string;
  readonly state: FrameState;
  readonly frameStart: number;
  readonly frameEnd: number;
  readonly attempts: number;
  readonly preemptions: number;
  readonly nodeId?: string;
  readonly exitCode?: number;
  readonly message?: string;
  readonly submittedAt: Date;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly outputs: readonly OutputFile[];
  readonly cost: number;
}

/** Frame counts of a job by state. */
export interface FrameCounts {
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  recalled: number;
  cancelled: number;
}

/** A job as the service knows it. */
export interface Job {
  readonly jobId: string;
  readonly spec: JobSpec;
  readonly state: JobState;
  readonly counts: FrameCounts;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly cost: number;
}

/** One change to one frame, in log order. */
export interface FrameEvent {
  /** Resume a watch after this. */
  readonly cursor: string;
  readonly time: Date;
  readonly type: FrameEventType;
  readonly key: FrameKey;
  readonly frameId: string;
  readonly jobId: string;
  /** The frame's state after the event. */
  readonly state: FrameState;
  /** Attempt number, from 1 (0 before the first start). */
  readonly attempt: number;
  readonly nodeId?: string;
  readonly exitCode?: number;
  readonly message?: string;
  /** On `succeeded`. */
  readonly outputs?: readonly OutputFile[];
  /**
   * What the attempt this event ended cost (its run time x the slot price of its node), in
   * the budget's currency; on events that end a running attempt, in the service only (not
   * on the wire).
   */
  readonly cost?: number;
}

/** Result of submitting one frame. */
export interface FrameSubmission {
  readonly key: FrameKey;
  readonly frameId: string;
  /** False when the frame was already known (nothing new was run). */
  readonly created: boolean;
  readonly state: FrameState;
}
