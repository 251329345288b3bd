import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logging';
import type { CapacityManager, PlanContext } from '../capacity/manager';
import { withoutRefusedGroups } from '../capacity/preflight';
import type { FrameStore } from '../frames/store';
import type { FarmReport, PlanOutput, Planner, PlannerGroup } from './planner';

/** Options of the burst manager. */
export interface BurstManagerOptions {
  readonly planner: Planner;
  readonly defaultGroup: string;
  /** 0 = uncapped. */
  readonly maxSpendPerHour: number;
  readonly currency: string;
  /** Reports older than this are forgotten. @default 120000 */
  readonly reportTtlMs?: number;
  /** Apply the plan's capacity targets to the groups. @default true */
  readonly applyTargets?: boolean;
  readonly logger: Logger;
}

/** What the service knows of the studio's burst state. */
export interface BurstStatus {
  readonly maxSpendPerHour: number;
  readonly costPerHour: number;
  /** Spent so far, since `spentSince`. */
  readonly spentTotal: number;
  readonly spentSince: Date;
  readonly currency: string;
  readonly groups: readonly { name: string; dedicated: number; spot: number }[];
  readonly sources: readonly {
    source: string;
    lastReportAt: Date;
    queuedFrames: number;
    cloudFrames: number;
  }[];
}

/** What a report involves, for the capacity manager's ownership rules. */
function planContext(report: FarmReport, defaultGroup: string): PlanContext {
  const farmGroups = new Set<string>();
  for (const j of report.jobs) if (j.group) farmGroups.add(j.group);
  for (const w of report.workers) if (w.group) farmGroups.add(w.group);
  return {
    source: report.source,
    capacityGroups: [...new Set(report.jobs.map((j) => j.capacityGroup ?? defaultGroup))],
    farmGroups: [...farmGroups],
  };
}

/**
 * Answers farm reports with plans, across every bridge of the studio, and applies the
 * plan's capacity targets. The planner is pure; this class holds the latest report of each
 * source and reads the cloud's state from the capacity and frame stores.
 */
export class BurstManager {
  private readonly reports = new Map<string, FarmReport>();
  /** Ends capacity reads of a plan under way when the service stops. */
  private readonly abort = new AbortController();

  constructor(
    private readonly capacity: CapacityManager,
    private readonly frames: FrameStore,
    private readonly options: BurstManagerOptions,
  ) {}

  /** Records the report and returns the plan for its source. */
  async report(report: FarmReport): Promise<PlanOutput & { planId: string }> {
    const now = new Date();
    this.reports.set(report.source, report);
    const ttl = this.options.reportTtlMs ?? 120_000;
    for (const [source, r] of this.reports)
      if (now.getTime() - r.observedAt.getTime() > ttl) this.reports.delete(source);
    const groups = await this.plannerGroups();
    const cloudQueuedByJob = new Map<string, number>();
    for (const f of this.frames.unfinishedFrames()) {
      if (f.key.source === report.source && f.state === 'queued') {
        cloudQueuedByJob.set(f.key.sourceJobId, (cloudQueuedByJob.get(f.key.sourceJobId) ?? 0) + 1);
      }
    }
    let plan = this.options.planner({
      cloudQueuedByJob,
      now,
      report,
      allReports: [...this.reports.values()],
      groups,
      defaultGroup: this.options.defaultGroup,
      maxSpendPerHour: this.options.maxSpendPerHour,
    });
    // A group whose preflight failed (a mount missing on its nodes, a licence server unreachable)
    // takes no frames: they stay local.
    plan = { ...plan, ...withoutRefusedGroups(plan, (g) => this.capacity.dispatchVerdict(g)) };
    // Capacity has owners: the plan's targets go through the capacity manager, which
    // clamps them (pins, maxima, busy nodes, the groups a worker-burst group serves, the
    // budget), starts the resizes and says why a target differs from the plan's.
    const applied = await this.capacity.applyPlan(
      plan.targets,
      planContext(report, this.options.defaultGroup),
      {
        abortSignal: this.abort.signal,
        resize: this.options.applyTargets ?? true,
      },
    );
    const effective = new Map(applied.targets.map((t) => [t.group, t.effective]));
    plan = {
      ...plan,
      targets: plan.targets.map((t) => {
        const e = effective.get(t.capacityGroup);
        return e ? { capacityGroup: t.capacityGroup, dedicated: e.dedicated, spot: e.spot } : t;
      }),
      projectedCostPerHour: plan.targets.reduce((sum, t) => {
        const g = groups.find((x) => x.name === t.capacityGroup);
        const e = effective.get(t.capacityGroup) ?? t;
        return sum + (g ? e.dedicated * g.dedicatedPerHour + e.spot * g.spotPerHour : 0);
      }, 0),
      reasons: [...plan.reasons, ...applied.reasons],
    };
    const planId = randomUUID();
    if (plan.offload.length > 0 || plan.recall.length > 0) {
      this.options.logger.info('plan', {
        planId,
        source: report.source,
        offload: plan.offload.reduce((n, o) => n + o.frameCount, 0),
        recall: plan.recall.reduce((n, r) => n + r.frameCount, 0),
      });
    }
    return { ...plan, planId };
  }

  private async plannerGroups(): Promise<PlannerGroup[]> {
    const cloud = new Map<string, { queued: number; running: number }>();
    for (const f of this.frames.unfinishedFrames()) {
      const group = this.frames.specsOf(f.frameId)?.job.capacityGroup ?? this.options.defaultGroup;
      const c = cloud.get(group) ?? { queued: 0, running: 0 };
      if (f.state === 'queued') c.queued++;
      else c.running++;
      cloud.set(group, c);
    }
    const views = await this.capacity.list();
    return views.map((v) => ({
      name: v.spec.name,
      maxDedicatedNodes: v.spec.maxDedicatedNodes,
      maxSpotNodes: v.spec.maxSpotNodes,
      slotsPerNode: v.spec.taskSlotsPerNode || 1,
      dedicatedPerHour: v.spec.cost?.dedicatedPerNodeHour ?? 0,
      spotPerHour: v.spec.cost?.spotPerNodeHour ?? 0,
      currentDedicated: v.status?.currentDedicatedNodes ?? 0,
      currentSpot: v.status?.currentSpotNodes ?? 0,
      queuedInCloud: cloud.get(v.spec.name)?.queued ?? 0,
      runningInCloud: cloud.get(v.spec.name)?.running ?? 0,
    }));
  }

  /** The studio's burst summary. */
  async status(): Promise<BurstStatus> {
    const views = await this.capacity.list();
    const budget = await this.capacity.budget();
    const cloudBySource = new Map<string, number>();
    for (const f of this.frames.unfinishedFrames())
      cloudBySource.set(f.key.source, (cloudBySource.get(f.key.source) ?? 0) + 1);
    return {
      maxSpendPerHour: this.options.maxSpendPerHour,
      costPerHour: views.reduce((sum, v) => sum + v.costPerHour, 0),
      spentTotal: budget.spentTotal,
      spentSince: budget.spentSince,
      currency: this.options.currency,
      groups: views.map((v) => ({
        name: v.spec.name,
        dedicated: v.status?.currentDedicatedNodes ?? 0,
        spot: v.status?.currentSpotNodes ?? 0,
      })),
      sources: [...this.reports.values()].map((r) => ({
        source: r.source,
        lastReportAt: r.observedAt,
        queuedFrames: r.jobs.reduce((n, j) => n + j.queuedFrames, 0),
        cloudFrames: cloudBySource.get(r.source) ?? 0,
      })),
    };
  }

  /** Stops: plans under way end (the capacity manager drops their resizes when it closes). */
  close(): Promise<void> {
    this.abort.abort();
    return Promise.resolve();
  }
}
