/**
 * The service's state as the status page and `/api/status` show it: capacity groups and
 * their nodes by state, jobs and their frames, money (spend per hour against the budget,
 * spend so far) and the current plan with its reasons. Read from the domain services; no
 * state of its own.
 */
import type { GroupStatus, NodeCounts } from '../../compute/backend';
import type { Frame, FrameCounts, FrameState, Job } from '../../model/frames';
import { TERMINAL_FRAME_STATES } from '../../model/frames';
import type { FrameStore } from '../frames/store';

/** A capacity group as the capacity manager shows it (what the page needs of it). */
export interface GroupViewLike {
  readonly spec: {
    readonly name: string;
    readonly vmSize: string;
    readonly taskSlotsPerNode: number;
    readonly maxDedicatedNodes: number;
    readonly maxSpotNodes: number;
    readonly mode: number;
    readonly backend?: number;
    readonly cost?: { readonly dedicatedPerNodeHour: number; readonly spotPerNodeHour: number } | undefined;
  };
  readonly status: GroupStatus | undefined;
  readonly costPerHour: number;
  /** What it cost so far (when the capacity manager meters spend). */
  readonly spentTotal?: number;
  readonly targetOwner?: string | undefined;
  readonly pinned?: { readonly dedicated: number; readonly spot: number };
}

/** The studio's budget as the capacity manager shows it. */
export interface BudgetLike {
  readonly maxSpendPerHour: number;
  readonly currency: string;
  readonly costPerHour: number;
  readonly projectedCostPerHour: number;
  readonly spentTotal: number;
  readonly spentSince: Date;
}

/** What the status reads capacity and money from (the CapacityManager). */
export interface CapacitySource {
  list(options?: { abortSignal?: AbortSignal }): Promise<readonly GroupViewLike[]>;
  /** The budget and spend. @default derived from `list` without spend */
  budget?(options?: { abortSignal?: AbortSignal }): Promise<BudgetLike>;
}

/** A reporting bridge, and the last plan made for it (what the BurstManager knows). */
export interface PlanSourceLike {
  readonly source: string;
  readonly lastReportAt: Date;
  readonly queuedFrames: number;
  readonly cloudFrames: number;
  readonly lastPlan?: {
    readonly reasons?: readonly string[];
    readonly offload?: readonly { readonly sourceJobId?: string; readonly frameCount?: number }[];
    readonly recall?: readonly { readonly sourceJobId?: string; readonly frameCount?: number }[];
  };
}

/** A bridge's last farm report, as far as the page shows it: each job's frames still local. */
export interface FarmReportLike {
  readonly source: string;
  readonly jobs: readonly {
    readonly sourceJobId: string;
    readonly queuedFrames: number;
    readonly renderingFrames?: number;
  }[];
}

/** What the status reads the plan from (the BurstManager). */
export interface PlanSource {
  /** Each bridge's latest farm report. @default none: local frames are not shown */
  latestReports?(): readonly FarmReportLike[];
  status(): Promise<{
    readonly sources: readonly PlanSourceLike[];
    readonly planner?: string;
    readonly maxSpendPerHour?: number;
    readonly currency?: string;
  }>;
}

/** One capacity group on the page. */
export interface GroupStatusView {
  readonly name: string;
  readonly mode: 'frame-offload' | 'worker-burst';
  readonly vmSize: string;
  readonly state: string;
  readonly target: { readonly dedicated: number; readonly spot: number };
  readonly current: { readonly dedicated: number; readonly spot: number };
  readonly max: { readonly dedicated: number; readonly spot: number };
  /** Nodes by state, dedicated + spot. */
  readonly nodes: Readonly<Record<string, { readonly dedicated: number; readonly spot: number }>>;
  readonly costPerHour: number;
  readonly spentTotal?: number;
  readonly targetOwner?: string;
  readonly errors: readonly { readonly code: string; readonly message: string }[];
}

/** One frame on the page. */
export interface FrameStatusView {
  readonly frameId: string;
  readonly sourceTaskId: string;
  readonly frameStart: number;
  readonly frameEnd: number;
  readonly state: FrameState;
  readonly attempts: number;
  readonly preemptions: number;
  readonly nodeId?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly cost: number;
  readonly message?: string;
}

/** One job on the page: its frames where they are. */
export interface JobStatusView {
  readonly jobId: string;
  readonly name: string;
  readonly source: string;
  readonly sourceJobId: string;
  readonly capacityGroup?: string;
  readonly state: Job['state'];
  /** Frames offloaded to the cloud, by where they are now. */
  readonly counts: FrameCounts & { readonly offloaded: number };
  /** Frames on the local farm (queued, rendering) in the bridge's last farm report, when known. */
  readonly local?: { readonly queued: number; readonly rendering?: number };
  readonly cost: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Unfinished frames first, then the latest finished; at most `framesPerJob`. */
  readonly frames: readonly FrameStatusView[];
  /** Frames not listed. */
  readonly moreFrames: number;
}

/** The whole status. */
export interface ServiceStatus {
  readonly generatedAt: string;
  readonly money: {
    readonly currency: string;
    /** 0 = uncapped. */
    readonly maxSpendPerHour: number;
    readonly costPerHour: number;
    /** At the groups' targets (what the plan asked for, within bounds). */
    readonly projectedCostPerHour: number;
    readonly spentTotal?: number;
    readonly spentSince?: string;
  };
  readonly groups: readonly GroupStatusView[];
  readonly jobs: readonly JobStatusView[];
  readonly plan: {
    readonly planner?: string;
    readonly sources: readonly {
      readonly source: string;
      readonly lastReportAt: string;
      readonly queuedFrames: number;
      readonly cloudFrames: number;
      readonly reasons: readonly string[];
      readonly offloadFrames: number;
      readonly recallFrames: number;
    }[];
  };
  readonly totals: {
    readonly frames: Readonly<Record<FrameState, number>>;
    readonly nodes: { readonly dedicated: number; readonly spot: number };
  };
}

/** Options of `readStatus`. */
export interface StatusOptions {
  /** Jobs shown (active first, then newest). @default 50 */
  readonly maxJobs?: number;
  /** Frames shown per job. @default 200 */
  readonly framesPerJob?: number;
  readonly abortSignal?: AbortSignal;
}

const ALL_STATES: readonly FrameState[] = [
  'queued',
  'preparing',
  'running',
  'succeeded',
  'failed',
  'recalled',
  'cancelled',
];

/** Node counts by state, summed over dedicated and spot where the page only needs the total. */
function nodesOf(counts: NodeCounts): Record<string, { dedicated: number; spot: number }> {
  const out: Record<string, { dedicated: number; spot: number }> = {};
  for (const [state, c] of Object.entries(counts)) {
    if (c && c.dedicated + c.spot > 0) out[state] = { dedicated: c.dedicated, spot: c.spot };
  }
  return out;
}

function frameView(f: Frame): FrameStatusView {
  return {
    frameId: f.frameId,
    sourceTaskId: f.key.sourceTaskId,
    frameStart: f.frameStart,
    frameEnd: f.frameEnd,
    state: f.state,
    attempts: f.attempts,
    preemptions: f.preemptions,
    ...(f.nodeId ? { nodeId: f.nodeId } : {}),
    ...(f.startedAt ? { startedAt: f.startedAt.toISOString() } : {}),
    ...(f.finishedAt ? { finishedAt: f.finishedAt.toISOString() } : {}),
    cost: f.cost,
    ...(f.message ? { message: f.message } : {}),
  };
}

/** Order of frames on the page: running, then queued, then failed, then the rest (latest first). */
const FRAME_ORDER: Record<FrameState, number> = {
  running: 0,
  preparing: 1,
  queued: 2,
  failed: 3,
  recalled: 4,
  succeeded: 5,
  cancelled: 6,
};

/** Reads the status from the domain services. */
export async function readStatus(
  store: FrameStore,
  capacity: CapacitySource,
  plan: PlanSource | undefined,
  options: StatusOptions = {},
): Promise<ServiceStatus> {
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const [views, budget, planStatus] = await Promise.all([
    capacity.list(signal),
    capacity.budget?.(signal),
    plan?.status(),
  ]);
  const groups: GroupStatusView[] = views.map((v) => ({
    name: v.spec.name,
    mode: v.spec.mode === 2 ? 'worker-burst' : 'frame-offload',
    vmSize: v.spec.vmSize,
    state: v.status?.state ?? 'unknown',
    target: { dedicated: v.status?.targetDedicatedNodes ?? 0, spot: v.status?.targetSpotNodes ?? 0 },
    current: { dedicated: v.status?.currentDedicatedNodes ?? 0, spot: v.status?.currentSpotNodes ?? 0 },
    max: { dedicated: v.spec.maxDedicatedNodes, spot: v.spec.maxSpotNodes },
    nodes: nodesOf(v.status?.nodeCounts ?? {}),
    costPerHour: v.costPerHour,
    ...(v.spentTotal !== undefined ? { spentTotal: v.spentTotal } : {}),
    ...(v.targetOwner ? { targetOwner: v.targetOwner } : {}),
    errors: (v.status?.errors ?? []).map((e) => ({ code: e.code, message: e.message })),
  }));

  const local = new Map<string, { queued: number; rendering?: number }>();
  for (const r of plan?.latestReports?.() ?? []) {
    for (const j of r.jobs) {
      local.set(`${r.source}\0${j.sourceJobId}`, {
        queued: j.queuedFrames,
        ...(j.renderingFrames !== undefined ? { rendering: j.renderingFrames } : {}),
      });
    }
  }
  const framesPerJob = options.framesPerJob ?? 200;
  const allJobs = store.listJobs();
  const ordered = [...allJobs].sort(
    (a, b) =>
      Number(b.state === 'active') - Number(a.state === 'active') ||
      b.updatedAt.getTime() - a.updatedAt.getTime(),
  );
  const frameTotals = Object.fromEntries(ALL_STATES.map((s) => [s, 0])) as Record<FrameState, number>;
  for (const j of allJobs) {
    frameTotals.queued += j.counts.queued;
    frameTotals.running += j.counts.running;
    frameTotals.succeeded += j.counts.succeeded;
    frameTotals.failed += j.counts.failed;
    frameTotals.recalled += j.counts.recalled;
    frameTotals.cancelled += j.counts.cancelled;
  }
  const jobs: JobStatusView[] = ordered.slice(0, options.maxJobs ?? 50).map((j) => {
    const frames = store.framesOf(j.jobId);
    const shown = [...frames]
      .sort(
        (a, b) =>
          FRAME_ORDER[a.state] - FRAME_ORDER[b.state] ||
          (TERMINAL_FRAME_STATES.has(a.state)
            ? (b.finishedAt?.getTime() ?? 0) - (a.finishedAt?.getTime() ?? 0)
            : a.frameStart - b.frameStart),
      )
      .slice(0, framesPerJob);
    const offloaded = Object.values(j.counts).reduce((n, c) => n + c, 0);
    const onFarm = local.get(`${j.spec.source}\0${j.spec.sourceJobId}`);
    return {
      jobId: j.jobId,
      name: j.spec.name ?? j.spec.sourceJobId,
      source: j.spec.source,
      sourceJobId: j.spec.sourceJobId,
      ...(j.spec.capacityGroup ? { capacityGroup: j.spec.capacityGroup } : {}),
      state: j.state,
      counts: { ...j.counts, offloaded },
      ...(onFarm ? { local: onFarm } : {}),
      cost: j.cost,
      createdAt: j.createdAt.toISOString(),
      updatedAt: j.updatedAt.toISOString(),
      frames: shown.map(frameView),
      moreFrames: frames.length - shown.length,
    };
  });

  const costPerHour = views.reduce((n, v) => n + v.costPerHour, 0);
  const projected = views.reduce((n, v) => {
    const prices = v.spec.cost;
    if (!prices || !v.status) return n;
    return (
      n +
      v.status.targetDedicatedNodes * prices.dedicatedPerNodeHour +
      v.status.targetSpotNodes * prices.spotPerNodeHour
    );
  }, 0);
  return {
    generatedAt: new Date().toISOString(),
    money: budget
      ? {
          currency: budget.currency,
          maxSpendPerHour: budget.maxSpendPerHour,
          costPerHour: budget.costPerHour,
          projectedCostPerHour: budget.projectedCostPerHour,
          spentTotal: budget.spentTotal,
          spentSince: budget.spentSince.toISOString(),
        }
      : {
          currency: planStatus?.currency ?? 'USD',
          maxSpendPerHour: planStatus?.maxSpendPerHour ?? 0,
          costPerHour,
          projectedCostPerHour: projected,
        },
    groups,
    jobs,
    plan: {
      ...(planStatus?.planner ? { planner: planStatus.planner } : {}),
      sources: (planStatus?.sources ?? []).map((s) => ({
        source: s.source,
        lastReportAt: s.lastReportAt.toISOString(),
        queuedFrames: s.queuedFrames,
        cloudFrames: s.cloudFrames,
        reasons: s.lastPlan?.reasons ?? [],
        offloadFrames: (s.lastPlan?.offload ?? []).reduce((n, o) => n + (o.frameCount ?? 0), 0),
        recallFrames: (s.lastPlan?.recall ?? []).reduce((n, o) => n + (o.frameCount ?? 0), 0),
      })),
    },
    totals: {
      frames: frameTotals,
      nodes: {
        dedicated: groups.reduce((n, g) => n + g.current.dedicated, 0),
        spot: groups.reduce((n, g) => n + g.current.spot, 0),
      },
    },
  };
}
