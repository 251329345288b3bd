/**
 * The OpenCue farm as the service's `ReportFarmState` takes it, from what the virtual host
 * observed (local allocations' hosts, jobs and their burst-tagged layers). Pure.
 */
import { frameTimeStats, type FarmReport, type FrameTimeStats, type RenderingFrame } from '@spillway/sdk';
import { jobDeadline } from './policy';

/** One job as observed. */
export interface ObservedJob {
  /** Cuebot's job id. */
  readonly id: string;
  /** Cuebot's priority (reported clamped to 0-100). */
  readonly priority: number;
  /** Start time, epoch seconds. */
  readonly startTime: number;
  /** Frames waiting that the host may take (of burst-tagged layers, or all when every layer is). */
  readonly waitingFrames: number;
  /** Frames running anywhere (Cuebot's count, including those on this host). */
  readonly runningFrames: number;
  /** Frames of the job running on this host (in the cloud). */
  readonly offloadedFrames: number;
  /** Whether a layer of the job carries one of the host's tags. */
  readonly burstable: boolean;
  /** Cuebot's job name. @default the id */
  readonly name?: string;
  /** Frames done. @default 0 */
  readonly succeededFrames?: number;
  /** Times of its frames that finished on local hosts (of its burst-tagged layers). @default none */
  readonly localFrameTime?: FrameTimeStats;
  /** Its frames rendering on local hosts (burst-tagged layers), with their start. @default unknown */
  readonly rendering?: readonly RenderingFrame[];
}

/**
 * Frame times of frames that finished on local hosts: stop − start of SUCCEEDED frames
 * (Cuebot's whole seconds), leaving out frames this host launched (the cloud's).
 */
export function localFrameTimeOf(
  frames: readonly {
    readonly id: string;
    readonly state: string;
    readonly start_time: number;
    readonly stop_time: number;
  }[],
  launchedHere: ReadonlySet<string>,
): FrameTimeStats | undefined {
  const seconds = frames
    .filter(
      (f) =>
        f.state === 'SUCCEEDED' && !launchedHere.has(f.id) && f.start_time > 0 && f.stop_time >= f.start_time,
    )
    .map((f) => f.stop_time - f.start_time);
  return frameTimeStats(seconds);
}

/** What the report is made from. */
export interface ReportInput {
  readonly source: string;
  readonly now: Date;
  readonly jobs: readonly ObservedJob[];
  /** Idle cores on UP, OPEN hosts of the local allocations. */
  readonly localIdleCores: number;
  /** Busy cores of the local allocations' hosts. */
  readonly localBusyCores: number;
  /** Deadline of jobs carrying none: start + this. */
  readonly turnaroundSeconds: number;
}

/** The report. Jobs' deadlines come from their start plus the turnaround. */
export function farmReport(input: ReportInput): FarmReport {
  return {
    source: input.source,
    sourceKind: 'opencue',
    observedAt: input.now,
    jobs: input.jobs.map((j) => ({
      sourceJobId: j.id,
      ...(j.name ? { name: j.name } : {}),
      priority: Math.max(0, Math.min(100, j.priority)),
      group: '',
      queuedFrames: j.waitingFrames,
      renderingFrames: Math.max(0, j.runningFrames - j.offloadedFrames),
      offloadedFrames: j.offloadedFrames,
      completedFrames: j.succeededFrames ?? 0,
      submittedAt: new Date(j.startTime * 1000),
      deadline: jobDeadline(j.startTime, input.turnaroundSeconds),
      ...(j.localFrameTime ? { localFrameTime: j.localFrameTime } : {}),
      ...(j.rendering ? { rendering: j.rendering } : {}),
      burstable: j.burstable,
    })),
    workers: [{ group: '', idle: Math.floor(input.localIdleCores), busy: input.localBusyCores }],
  };
}
