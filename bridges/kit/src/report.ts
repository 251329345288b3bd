/**
 * The farm report every bridge sends the service (`ReportFarmState`), built once for every
 * render manager: the bridge says what it read (each job's counts, the frames rendering and
 * finished with the worker of each, and its workers' free and busy slots), and this builds
 * the report. Cloud workers that joined the farm from a worker-burst group (worker burst) are
 * reported apart (`WorkerCounts.capacityGroup`): they are left out of the farm's own worker
 * counts, and the frames they render or rendered are left out of the jobs' rendering frames
 * and local frame times (the service counts them as the group's nodes), so they do not make
 * the farm look faster than it is. Pure.
 */
import {
  frameTimeStats,
  type CapacityCallOptions,
  type CapacityNodeInfo,
  type FarmReport,
  type RenderingFrame,
  type ReportedJob,
  type SourceKind,
  type WorkerCounts,
} from '@spillway/sdk';

/** A frame rendering now, on the named worker. */
export interface WorkerFrame extends RenderingFrame {
  /** The worker (Deadline worker, OpenCue host) rendering it. */
  readonly worker: string;
}

/** A frame that finished rendering on a worker of the farm. */
export interface FinishedFrame {
  /** The worker that rendered it. */
  readonly worker: string;
  /** Its render time, seconds. */
  readonly seconds: number;
}

/** One job as the bridge read it. */
export interface ReportJobInput extends Omit<
  ReportedJob,
  'renderingFrames' | 'rendering' | 'localFrameTime'
> {
  /**
   * Its frames rendering on the farm's workers now, local and cloud.
   * @default unknown (then `renderingFrames` says how many, and the report lists none)
   */
  readonly rendering?: readonly WorkerFrame[];
  /**
   * Its frames that finished on the farm's workers (not the bridge's own cloud frames),
   * local and cloud. @default none
   */
  readonly finished?: readonly FinishedFrame[];
  /**
   * Frames rendering on local workers when the bridge does not list them all (then
   * `rendering` holds those it listed). @default `rendering`'s local frames
   */
  readonly renderingFrames?: number;
}

/** One worker (or render host) of the farm, in frame slots. */
export interface ReportWorkerInput {
  /** Its name in the render manager (a cloud worker is found by it). */
  readonly name: string;
  /** Deadline group or OpenCue tag of the work it takes; `''` for any. */
  readonly group: string;
  /** Free slots ready for work (a Deadline worker: 1 when idle; an OpenCue host: its idle cores). */
  readonly idle: number;
  /** Busy slots. */
  readonly busy: number;
  /** Slots offline, stalled, down or locked. @default 0 */
  readonly offline?: number;
}

/** What `buildFarmReport` is made from. */
export interface FarmReportInput {
  readonly source: string;
  readonly sourceKind: SourceKind;
  readonly now: Date;
  readonly jobs: readonly ReportJobInput[];
  readonly workers: readonly ReportWorkerInput[];
  /**
   * Worker burst: the cloud workers that joined the farm, worker name (lower case) to its
   * worker-burst capacity group. @default none
   */
  readonly cloudWorkers?: ReadonlyMap<string, string>;
}

/** The cloud worker-burst group of a worker, or undefined for the farm's own. */
function cloudGroupOf(cloud: ReadonlyMap<string, string>, worker: string): string | undefined {
  return cloud.size > 0 ? cloud.get(worker.toLowerCase()) : undefined;
}

/** The farm as the service's `ReportFarmState` takes it; cloud workers apart. */
export function buildFarmReport(input: FarmReportInput): FarmReport {
  const cloud = input.cloudWorkers ?? new Map<string, string>();
  const local = (worker: string): boolean => cloudGroupOf(cloud, worker) === undefined;
  const counts = new Map<
    string,
    { group: string; capacityGroup?: string; idle: number; busy: number; offline: number }
  >();
  for (const w of input.workers) {
    const capacityGroup = cloudGroupOf(cloud, w.name);
    const key = `${w.group}\0${capacityGroup ?? ''}`;
    const c = counts.get(key) ?? {
      group: w.group,
      ...(capacityGroup ? { capacityGroup } : {}),
      idle: 0,
      busy: 0,
      offline: 0,
    };
    c.idle += w.idle;
    c.busy += w.busy;
    c.offline += w.offline ?? 0;
    counts.set(key, c);
  }
  const workers: WorkerCounts[] = [...counts.values()].map((c) => ({
    group: c.group,
    idle: c.idle,
    busy: c.busy,
    ...(c.offline ? { offline: c.offline } : {}),
    ...(c.capacityGroup ? { capacityGroup: c.capacityGroup } : {}),
  }));
  return {
    source: input.source,
    sourceKind: input.sourceKind,
    observedAt: input.now,
    jobs: input.jobs.map(({ rendering: all, finished, renderingFrames, ...job }) => {
      const rendering: RenderingFrame[] | undefined = all
        ?.filter((f) => local(f.worker))
        .map(({ worker: _worker, ...f }) => f);
      const localFrameTime = frameTimeStats(
        (finished ?? []).filter((f) => local(f.worker) && f.seconds > 0).map((f) => f.seconds),
      );
      return {
        ...job,
        renderingFrames: renderingFrames ?? rendering?.length ?? 0,
        ...(localFrameTime ? { localFrameTime } : {}),
        ...(rendering ? { rendering } : {}),
      };
    }),
    workers,
  };
}

/**
 * The cloud workers of the worker-burst groups a bridge serves now: worker name (lower case)
 * to its group, from the groups' instances' worker names as the service lists them. A group
 * the service cannot list is left out (`onUnlisted` says why): its workers count as the
 * farm's own until it answers again.
 */
export async function cloudWorkersOf(
  capacity: { nodes(group: string, options?: CapacityCallOptions): Promise<CapacityNodeInfo[]> },
  groups: readonly string[],
  options: CapacityCallOptions & { onUnlisted?: (group: string, err: Error) => void } = {},
): Promise<Map<string, string>> {
  const { onUnlisted, ...call } = options;
  const out = new Map<string, string>();
  for (const group of groups) {
    try {
      const nodes = await capacity.nodes(group, call);
      for (const n of nodes) if (n.workerName) out.set(n.workerName.toLowerCase(), group);
    } catch (err) {
      if (call.abortSignal?.aborted) break;
      onUnlisted?.(group, err as Error);
    }
  }
  return out;
}
