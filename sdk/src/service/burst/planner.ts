/**
 * What the service's planner decides from, and what it decides: plain data, so the
 * planner is a pure function that tests drive with tables.
 */

/** One job of a farm report. */
export interface ReportedJob {
  readonly sourceJobId: string;
  readonly priority: number;
  readonly group: string;
  readonly queuedFrames: number;
  readonly renderingFrames: number;
  readonly offloadedFrames: number;
  readonly submittedAt?: Date;
  /** Unset: never worth cloud money. */
  readonly deadline?: Date;
  readonly frameTimeMs?: number;
  readonly burstable: boolean;
  readonly capacityGroup?: string;
}

/** One bridge's latest report. */
export interface FarmReport {
  readonly source: string;
  readonly observedAt: Date;
  readonly jobs: readonly ReportedJob[];
  /** Idle and busy local workers by group ('' = any). */
  readonly workers: readonly { readonly group: string; readonly idle: number; readonly busy: number }[];
}

/** A capacity group as the planner sees it. */
export interface PlannerGroup {
  readonly name: string;
  readonly maxDedicatedNodes: number;
  readonly maxSpotNodes: number;
  readonly slotsPerNode: number;
  readonly dedicatedPerHour: number;
  readonly spotPerHour: number;
  readonly currentDedicated: number;
  readonly currentSpot: number;
  /** Cloud frames of the group not yet started, by source and job. */
  readonly queuedInCloud: number;
  /** Cloud frames of the group running now. */
  readonly runningInCloud: number;
}

/** Everything a plan is made from. */
export interface PlanInput {
  readonly now: Date;
  /** The report being answered. */
  readonly report: FarmReport;
  /** Every source's latest report (including this one): one budget for the studio. */
  readonly allReports: readonly FarmReport[];
  readonly groups: readonly PlannerGroup[];
  readonly defaultGroup: string;
  /** 0 = uncapped. */
  readonly maxSpendPerHour: number;
  /** Frames of the reporting source queued in the cloud and not yet started, by job. */
  readonly cloudQueuedByJob: ReadonlyMap<string, number>;
}

/** The plan for the reporting source. */
export interface PlanOutput {
  readonly offload: readonly { sourceJobId: string; frameCount: number; capacityGroup: string }[];
  readonly recall: readonly { sourceJobId: string; frameCount: number }[];
  readonly targets: readonly { capacityGroup: string; dedicated: number; spot: number }[];
  readonly projectedCostPerHour: number;
  readonly reasons: readonly string[];
}

/** Turns a farm report into a plan. */
export type Planner = (input: PlanInput) => PlanOutput;
