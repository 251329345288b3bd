/**
 * The SDK's own types for burst planning: what a bridge reports of its farm (the plan's
 * input) and the plan the service answers with (its output). Defined once: the bridges
 * build a `FarmReport`, the service's planner and the simulator hand the same type to the
 * policy, and `model/wire-mapping` is the one place that maps them to and from the wire.
 */
import type { SourceKind } from './frames';

/** Observed frame times of one job (finished frames only). */
export interface FrameTimeStats {
  /** Mean time of one frame (or chunk), milliseconds. */
  readonly meanMs: number;
  /** Sample standard deviation, milliseconds (0 with one sample). */
  readonly stdevMs: number;
  /** How many frames the figures come from. */
  readonly samples: number;
}

/** One frame (or chunk) rendering on a local worker now. */
export interface RenderingFrame {
  /** The task's id in the render manager. @default unknown */
  readonly sourceTaskId?: string;
  /** When it started rendering. @default unknown (the render manager does not say) */
  readonly startedAt?: Date;
  /** Fraction done, 0 to 1, where the render manager reports it. @default not reported */
  readonly progress?: number;
}

/** One job of the local farm with work left, as the bridge sees it (wire `QueuedJob`). */
export interface ReportedJob {
  /** The job's id in the render manager. */
  readonly sourceJobId: string;
  /** Human-readable name. @default the id */
  readonly name?: string;
  /** 0..100, higher first. */
  readonly priority: number;
  /** Deadline group or OpenCue allocation its frames need; `''` for any. */
  readonly group: string;
  /** Deadline pool. @default none */
  readonly pool?: string;
  /** Frames (or chunks) waiting for a local worker. */
  readonly queuedFrames: number;
  /** Frames rendering on local workers now. */
  readonly renderingFrames: number;
  /** Frames the bridge has sent to the cloud and not yet brought back. */
  readonly offloadedFrames: number;
  /** Frames done. @default 0 */
  readonly completedFrames?: number;
  /** When the job reached the render manager. @default unknown */
  readonly submittedAt?: Date;
  /** When it must be done. @default none: due at submission + the group's turnaround target, if any */
  readonly deadline?: Date;
  /** The studio's estimate of one local frame, used until frames have finished. @default unknown */
  readonly frameTimeMs?: number;
  /** Times of its frames that finished on local workers. @default none yet */
  readonly localFrameTime?: FrameTimeStats;
  /** Times of its frames that finished in the cloud. @default none yet */
  readonly cloudFrameTime?: FrameTimeStats;
  /** Its frames rendering locally now (start and progress where known). @default unknown */
  readonly rendering?: readonly RenderingFrame[];
  /** False when the job cannot leave the farm. */
  readonly burstable: boolean;
  /** The capacity group its overflow goes to. @default the service's default group */
  readonly capacityGroup?: string;
}

/** Workers able to take one group's work. */
export interface WorkerCounts {
  /** Deadline group or OpenCue allocation; `''` for any. */
  readonly group: string;
  /** Ready for work now. */
  readonly idle: number;
  /** Rendering now. */
  readonly busy: number;
  /** Offline, stalled or disabled. @default 0 */
  readonly offline?: number;
  /**
   * Cloud workers that joined the farm (worker burst): the nodes of this worker-burst
   * capacity group. The policy counts them as the group's nodes (the service lists them),
   * not as local workers; a bridge reports them apart so that they do not make the farm
   * look faster than it is, and leaves the frames they render out of its jobs'
   * `renderingFrames` and `rendering`.
   * @default undefined (local workers)
   */
  readonly capacityGroup?: string;
}

/** One bridge's report of its farm: the plan's input (wire `FarmState`). */
export interface FarmReport {
  /** The reporting bridge, e.g. `deadline:studio-a`. */
  readonly source: string;
  /** The render manager behind it. @default 'client' */
  readonly sourceKind?: SourceKind;
  /** When the bridge read the farm. */
  readonly observedAt: Date;
  /** Jobs with queued, rendering or offloaded frames. */
  readonly jobs: readonly ReportedJob[];
  /** Workers by group: local ones, and (with `capacityGroup`) cloud workers that joined. */
  readonly workers: readonly WorkerCounts[];
}

/** Frames of one job to move to the cloud (wire `OffloadDecision`). */
export interface OffloadDecision {
  readonly sourceJobId: string;
  /** Queued frames to take out of local dispatch; the bridge picks which, in the farm's order. */
  readonly frameCount: number;
  readonly capacityGroup: string;
}

/** Not-yet-started cloud frames of one job to take back (wire `RecallDecision`). */
export interface RecallDecision {
  readonly sourceJobId: string;
  readonly frameCount: number;
}

/** Node targets of one group (wire `CapacityTarget`). */
export interface CapacityTarget {
  readonly capacityGroup: string;
  /** Dedicated nodes alive (never below the busy ones: scale-in drains). */
  readonly dedicatedNodes: number;
  /** Spot nodes alive. */
  readonly spotNodes: number;
  /** What those nodes cost per hour. @default 0 */
  readonly costPerHour?: number;
  /** Why, including the limits the target was clamped to. @default none */
  readonly reasons?: readonly string[];
}

/** The plan for one job, explained (wire `JobPlan`). */
export interface JobPlan {
  readonly sourceJobId: string;
  /** The group its overflow would go to. */
  readonly capacityGroup: string;
  /** Its deadline, or submission + the group's turnaround target. @default none: never worth cloud money */
  readonly dueAt?: Date;
  /** When the local farm would finish its frames that are not in the cloud. @default none left locally */
  readonly projectedLocalFinishAt?: Date;
  /** Frames the plan wants in the cloud (queued or running), now and to come. */
  readonly cloudFrames: number;
  /** Frames to move to the cloud now. */
  readonly offloadFrames: number;
  /** Frames to bring back now. */
  readonly recallFrames: number;
  /** Why, in one line. */
  readonly reason: string;
}

/** What a planner decides from one report (the service adds id, time and report interval). */
export interface PlanDecision {
  /** Frames to offload, by job. */
  readonly offload: readonly OffloadDecision[];
  /** Frames to recall, by job. */
  readonly recall: readonly RecallDecision[];
  /** Node targets per group. */
  readonly targets: readonly CapacityTarget[];
  /** Per job of the report: due moment, projected local finish, frames to move and why. */
  readonly jobs: readonly JobPlan[];
  /** What the targeted nodes cost per hour. */
  readonly projectedCostPerHour: number;
  /** Short lines saying why. */
  readonly reasons: readonly string[];
}

/** The planners the service can plan with. */
export type PlannerName = 'policy' | 'greedy';

/** The service's plan for one bridge (wire `BurstPlan`). */
export interface BurstPlan extends PlanDecision {
  /** Unique id, for logs. */
  readonly planId: string;
  /** When it was made. */
  readonly createdAt: Date;
  /** Which planner made it. */
  readonly planner: PlannerName;
  /** When to report again, milliseconds. */
  readonly reportIntervalMs: number;
}

/** Where a planning figure of a group comes from. */
export type ParameterSource = 'configured' | 'observed';

/** One figure the policy plans a group with. */
export interface GroupParameter {
  readonly value: number;
  readonly source: ParameterSource;
  /** Observations behind an observed value (0 when configured). */
  readonly samples: number;
}

/** The figures the policy plans one capacity group with (wire `GroupParameters`). */
export interface GroupParameters {
  readonly capacityGroup: string;
  /** From resize request to the node taking work, seconds. */
  readonly nodeBootSeconds: GroupParameter;
  /** Cloud frame time over local frame time of the same job. */
  readonly cloudFrameTimeRatio: GroupParameter;
  /** Assets in and outputs back, per frame, seconds. */
  readonly transferSecondsPerFrame: GroupParameter;
  /** Spot evictions per running node-hour. */
  readonly spotEvictionsPerNodeHour: GroupParameter;
  /** Billing interval, seconds (configured only). */
  readonly billingGranularitySeconds: GroupParameter;
  /** Turnaround target for jobs without a deadline, seconds. @default none: such jobs stay local */
  readonly turnaroundTargetSeconds?: number;
}

/** One reporting bridge, as the service knows it. */
export interface SourceStatus {
  readonly source: string;
  readonly sourceKind: SourceKind;
  readonly lastReportAt: Date;
  /** Frames queued locally in its last report. */
  readonly queuedFrames: number;
  /** Its frames in the cloud now. */
  readonly cloudFrames: number;
  /** The last plan made for it. @default none */
  readonly lastPlan?: BurstPlan;
}

/** The service's burst summary (wire `GetBurstStatusResponse`). */
export interface BurstStatus {
  /** Spend cap per hour; 0 when uncapped. */
  readonly maxSpendPerHour: number;
  /** What allocated capacity costs per hour now. */
  readonly costPerHour: number;
  /** Spend since the service started keeping state. */
  readonly spentTotal: number;
  readonly currency: string;
  /** Current node counts per group. */
  readonly groups: readonly CapacityTarget[];
  /** Bridges that have reported, each with its last plan. */
  readonly sources: readonly SourceStatus[];
  /** The figures the policy plans each group with. */
  readonly parameters: readonly GroupParameters[];
  /** The planner in use. */
  readonly planner: PlannerName;
}

/**
 * A plan's reasons with their figures masked (`#`): what the plan does and why, without the
 * counts and times that change every cycle. Bridges and the service log a plan when this
 * changes, once, not every cycle.
 */
export function planReasonsKey(reasons: readonly string[]): string {
  return reasons.map((r) => r.replace(/-?\d+(\.\d+)?/g, '#')).join('\n');
}

/**
 * The farm's own workers, idle and busy, over every group: cloud workers that joined it
 * (`WorkerCounts.capacityGroup` set) are left out, the plan counts them as their group's
 * nodes.
 */
export function localWorkers(report: Pick<FarmReport, 'workers'>): { idle: number; busy: number } {
  let idle = 0;
  let busy = 0;
  for (const g of report.workers)
    if (!g.capacityGroup) {
      idle += g.idle;
      busy += g.busy;
    }
  return { idle, busy };
}

/**
 * The `FrameTimeStats` of finished frames' times in seconds (mean, sample standard
 * deviation); undefined when there are none. The bridges build their reports' frame times
 * with it.
 */
export function frameTimeStats(seconds: readonly number[]): FrameTimeStats | undefined {
  if (seconds.length === 0) return undefined;
  const mean = seconds.reduce((a, b) => a + b, 0) / seconds.length;
  const variance =
    seconds.length > 1 ? seconds.reduce((a, x) => a + (x - mean) ** 2, 0) / (seconds.length - 1) : 0;
  return { meanMs: mean * 1000, stdevMs: Math.sqrt(variance) * 1000, samples: seconds.length };
}
