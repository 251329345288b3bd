/**
 * The OpenCue farm as the service's `ReportFarmState` takes it, from what the virtual host
 * observed (the farm's hosts, jobs and their frames), built by the bridge kit's
 * `buildFarmReport`: the RQD hosts that joined from a worker-burst group (worker burst) are
 * reported apart, and the frames they render or rendered are left out of the jobs' rendering
 * frames and local frame times. Cores are the slots: a host's idle cores are the frames it
 * can start. Pure.
 */
import { buildFarmReport, type FinishedFrame, type WorkerFrame } from '@spillway/bridge-kit';
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
  /** Cuebot's job name. @default the id */
  readonly name?: string;
  /**
   * The host tag its frames need (`layerGroupOf`): a worker-burst group whose RQD hosts
   * carry it serves the job. @default '' (any)
   */
  readonly group?: string;
  /** Frames done. @default 0 */
  readonly succeededFrames?: number;
  /**
   * Its frames that finished on the farm's hosts, with the host (`finishedFramesOf`); frames
   * this virtual host launched are left out. @default none
   */
  readonly finished?: readonly FinishedFrame[];
  /** Its frames rendering on the farm's hosts, with the host (`renderingFramesOf`). @default unknown */
  readonly rendering?: readonly WorkerFrame[];
}

/** One render host of the farm's own allocations (not this virtual host). */
export interface ObservedHost {
  readonly name: string;
  /** Cores of the host. */
  readonly cores: number;
  /** Its idle cores. */
  readonly idleCores: number;
  /** UP and OPEN: its idle cores take frames. */
  readonly usable: boolean;
  /** Its tags: it is reported under the first (the farm group of the work it takes). @default none: `''` (any) */
  readonly tags?: readonly string[];
}

/** A frame as Cuebot lists it (`last_resource` is `host/cores[/gpus]`). */
export interface ObservedFrame {
  readonly id: string;
  readonly name?: string;
  readonly state: string;
  readonly start_time: number;
  readonly stop_time: number;
  readonly last_resource?: string;
}

/** The host of a frame's `last_resource` (`host/cores/gpus`); `''` when unknown. */
export function hostOfResource(resource: string | undefined): string {
  return (resource ?? '').split('/')[0] ?? '';
}

/**
 * Frames that finished on the farm's hosts: stop − start of SUCCEEDED frames (Cuebot's whole
 * seconds) with the host that ran each, leaving out frames this host launched (the cloud's).
 */
export function finishedFramesOf(
  frames: readonly ObservedFrame[],
  launchedHere: ReadonlySet<string>,
): FinishedFrame[] {
  return frames
    .filter(
      (f) =>
        f.state === 'SUCCEEDED' && !launchedHere.has(f.id) && f.start_time > 0 && f.stop_time >= f.start_time,
    )
    .map((f) => ({ worker: hostOfResource(f.last_resource), seconds: f.stop_time - f.start_time }));
}

/** Frames rendering on the farm's hosts (not this one), with their host and start. */
export function renderingFramesOf(
  frames: readonly ObservedFrame[],
  launchedHere: ReadonlySet<string>,
): WorkerFrame[] {
  return frames
    .filter((f) => f.state === 'RUNNING' && !launchedHere.has(f.id) && f.start_time > 0)
    .map((f) => ({
      worker: hostOfResource(f.last_resource),
      ...(f.name ? { sourceTaskId: f.name } : {}),
      startedAt: new Date(f.start_time * 1000),
    }));
}

/**
 * The host tag a job's frames need: the first tag of its layers that is not one of the
 * virtual host's own (burst) tags; `''` when it has none. One per job: a job whose layers
 * need different tags is reported under its first layer's.
 */
export function layerGroupOf(
  layers: readonly { readonly tags: readonly string[] }[],
  hostTags: readonly string[],
): string {
  for (const l of layers) for (const t of l.tags) if (t && !hostTags.includes(t)) return t;
  return '';
}

/** What the report is made from. */
export interface ReportInput {
  readonly source: string;
  readonly now: Date;
  readonly jobs: readonly ObservedJob[];
  /** The hosts of the farm's own allocations, cloud RQD hosts included (they are told apart by `cloudHosts`). */
  readonly hosts: readonly ObservedHost[];
  /** Deadline of jobs carrying none: start + this. */
  readonly turnaroundSeconds: number;
  /**
   * Worker burst: the RQD hosts that joined from a worker-burst group, host name (lower case)
   * to its group. @default none
   */
  readonly cloudHosts?: ReadonlyMap<string, string>;
}

/** The report. Jobs' deadlines come from their start plus the turnaround. */
export function farmReport(input: ReportInput): FarmReport {
  const cloud = input.cloudHosts ?? new Map<string, string>();
  const onCloud = (f: WorkerFrame): boolean => cloud.has(f.worker.toLowerCase());
  return buildFarmReport({
    source: input.source,
    sourceKind: 'opencue',
    now: input.now,
    ...(input.cloudHosts ? { cloudWorkers: input.cloudHosts } : {}),
    workers: input.hosts.map((h) => {
      const idle = Math.floor(h.idleCores);
      return {
        name: h.name,
        group: h.tags?.find((t) => t !== '') ?? '',
        idle: h.usable ? idle : 0,
        busy: Math.floor(h.cores - h.idleCores),
        ...(h.usable ? {} : { offline: idle }),
      };
    }),
    jobs: input.jobs.map((j) => ({
      sourceJobId: j.id,
      ...(j.name ? { name: j.name } : {}),
      priority: Math.max(0, Math.min(100, j.priority)),
      group: j.group ?? '',
      queuedFrames: j.waitingFrames,
      // Cuebot counts every running frame: those on this host and on cloud RQD hosts are not local.
      renderingFrames: Math.max(
        0,
        j.runningFrames - j.offloadedFrames - (j.rendering ?? []).filter(onCloud).length,
      ),
      offloadedFrames: j.offloadedFrames,
      completedFrames: j.succeededFrames ?? 0,
      submittedAt: new Date(j.startTime * 1000),
      deadline: jobDeadline(j.startTime, input.turnaroundSeconds),
      ...(j.finished ? { finished: j.finished } : {}),
      ...(j.rendering ? { rendering: j.rendering } : {}),
      burstable: j.burstable,
    })),
  });
}
