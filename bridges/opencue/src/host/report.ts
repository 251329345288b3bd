/**
 * The OpenCue farm as the service's `ReportFarmState` takes it, from what the virtual host
 * observed (local allocations' hosts, jobs and their burst-tagged layers). Pure.
 */
import type { FarmReport } from '@spillway/sdk';
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
    observedAt: input.now,
    jobs: input.jobs.map((j) => ({
      sourceJobId: j.id,
      priority: Math.max(0, Math.min(100, j.priority)),
      group: '',
      queuedFrames: j.waitingFrames,
      renderingFrames: Math.max(0, j.runningFrames - j.offloadedFrames),
      offloadedFrames: j.offloadedFrames,
      submittedAt: new Date(j.startTime * 1000),
      deadline: jobDeadline(j.startTime, input.turnaroundSeconds),
      burstable: j.burstable,
    })),
    workers: [{ group: '', idle: Math.floor(input.localIdleCores), busy: input.localBusyCores }],
  };
}
