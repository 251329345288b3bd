import { randomUUID } from 'node:crypto';
import type { ComputeNode } from '../../compute/backend';
import { BurstMode } from '../../gen/spillway/v1/common';
import type { Logger } from '../../logging';
import type {
  BurstPlan,
  BurstStatus,
  FarmReport,
  FrameTimeStats,
  GroupParameters,
  PlanDecision,
  PlannerName,
  SourceKind,
} from '../../model';
import { planReasonsKey } from '../../model/burst';
import type {
  CloudFrames,
  PolicyCapacityGroup,
  PolicyFarm,
  PolicyNode,
  PolicyOptions,
} from '../../policy/burst-policy';
import type { GroupFigures } from '../../policy/config';
import type { CapacityGroupView, CapacityManager, PlanContext } from '../capacity/manager';
import { withoutRefusedGroups } from '../capacity/preflight';
import type { FrameStore } from '../frames/store';
import { GroupLearner } from './learned';
import type { Planner } from './planner';
import { TaskGapLearner } from './task-gap';

/** Options of the burst manager. */
export interface BurstManagerOptions {
  /** The planner (`PLANNERS[plannerName]`). */
  readonly planner: Planner;
  /** Its configuration name, shown in plans and the status. @default 'policy' */
  readonly plannerName?: PlannerName;
  readonly defaultGroup: string;
  /** 0 = uncapped. */
  readonly maxSpendPerHour: number;
  readonly currency: string;
  /** The configured figures of a group (`burst.groupDefaults` and `burst.groups.<name>`). */
  readonly figures: (group: string) => GroupFigures;
  /** Policy tuning. @default the policy's defaults */
  readonly policyOptions?: PolicyOptions;
  /** How often bridges should report. @default 5000 */
  readonly reportIntervalMs?: number;
  /** Reports older than this are forgotten. @default 120000 */
  readonly reportTtlMs?: number;
  /** Apply the plan's capacity targets to the groups. @default true */
  readonly applyTargets?: boolean;
  readonly logger: Logger;
}

/** What a report involves, for the capacity manager's ownership rules. */
function planContext(report: FarmReport, defaultGroup: string): PlanContext {
  const farmGroups = new Set<string>();
  for (const j of report.jobs) {
    if (j.group) farmGroups.add(j.group);
    if (j.pool) farmGroups.add(j.pool);
  }
  for (const w of report.workers) if (w.group) farmGroups.add(w.group);
  return {
    source: report.source,
    capacityGroups: [...new Set(report.jobs.map((j) => j.capacityGroup ?? defaultGroup))],
    farmGroups: [...farmGroups],
  };
}

/** Booting states of a node. */
const BOOTING = new Set<ComputeNode['state']>(['creating', 'starting', 'waitingForStartTask']);

/**
 * Answers farm reports with plans, across every bridge of the studio, and applies the
 * plan's capacity targets. The planner is pure; this class holds the latest report and
 * plan of each source, reads the cloud's state from the capacity and frame stores, and
 * learns each group's figures from what it observes.
 */
export class BurstManager {
  private readonly reports = new Map<string, FarmReport>();
  private readonly plans = new Map<string, BurstPlan>();
  /** The reasons last logged per source (logged again only when they change). */
  private readonly logged = new Map<string, string>();
  private readonly learner = new GroupLearner();
  /** Each farm's per-task overhead, from its successive reports. */
  private readonly taskGaps = new TaskGapLearner();
  /** Node id -> since when it has been idle (ms). */
  private readonly idleSince = new Map<string, number>();
  private frameSeq = 0;
  private capacitySeq = 0;
  /** Ends capacity reads of a plan under way when the service stops. */
  private readonly abort = new AbortController();

  constructor(
    private readonly capacity: CapacityManager,
    private readonly frames: FrameStore,
    private readonly options: BurstManagerOptions,
  ) {}

  private get plannerName(): PlannerName {
    return this.options.plannerName ?? 'policy';
  }

  /** Records the report and returns the plan for its source. */
  async report(report: FarmReport): Promise<BurstPlan> {
    const now = new Date();
    this.reports.set(report.source, report);
    this.taskGaps.observe(report);
    const ttl = this.options.reportTtlMs ?? 120_000;
    for (const [source, r] of this.reports)
      if (now.getTime() - r.observedAt.getTime() > ttl && source !== report.source)
        this.reports.delete(source);
    const views = await this.capacity.list();
    const nodes = new Map<string, ComputeNode[]>();
    for (const v of views) nodes.set(v.spec.name, await this.capacity.listNodes(v.spec.name));
    this.observe(now, nodes);
    const farms = [...this.reports.values()].map((r) => this.farmOf(r, now));
    const groups = views.map((v) => this.policyGroup(v, nodes.get(v.spec.name) ?? [], now));
    const planned = this.options.planner({
      now,
      farms,
      source: report.source,
      groups,
      defaultGroup: this.options.defaultGroup,
      maxSpendPerHour: this.options.maxSpendPerHour,
      ...(this.options.policyOptions ? { options: this.options.policyOptions } : {}),
    });
    // A group whose preflight failed (a mount missing on its nodes, a licence server
    // unreachable) takes no frames: they stay local.
    const gap = this.taskGaps.gap(report.source);
    const decision: PlanDecision = {
      ...planned,
      ...withoutRefusedGroups(planned, (g) => this.capacity.dispatchVerdict(g)),
    };
    const gapReason =
      gap && gap.seconds > 0
        ? [
            `farm ${report.source}: ${gap.seconds.toFixed(2)} s between a worker's tasks (observed over ${gap.tasks} tasks), added to every local frame not started`,
          ]
        : [];
    // Capacity has owners: the plan's targets go through the capacity manager, which clamps
    // them (pins, maxima, busy nodes, the farm groups a worker-burst group serves, the
    // budget), starts the resizes and says why a target differs from the plan's.
    const applied = await this.capacity.applyPlan(
      decision.targets.map((t) => ({
        capacityGroup: t.capacityGroup,
        dedicated: t.dedicatedNodes,
        spot: t.spotNodes,
      })),
      planContext(report, this.options.defaultGroup),
      { abortSignal: this.abort.signal, resize: this.options.applyTargets ?? true },
    );
    const clamped = new Map(applied.targets.map((t) => [t.group, t]));
    const targets = decision.targets.map((t) => {
      const c = clamped.get(t.capacityGroup);
      if (!c) return t;
      const v = views.find((x) => x.spec.name === t.capacityGroup);
      const cost =
        c.effective.dedicated * (v?.spec.cost?.dedicatedPerNodeHour ?? 0) +
        c.effective.spot * (v?.spec.cost?.spotPerNodeHour ?? 0);
      return {
        capacityGroup: t.capacityGroup,
        dedicatedNodes: c.effective.dedicated,
        spotNodes: c.effective.spot,
        costPerHour: cost,
        reasons: [...(t.reasons ?? []), ...c.reasons],
      };
    });
    const plan: BurstPlan = {
      ...decision,
      targets,
      projectedCostPerHour: targets.reduce((sum, t) => sum + (t.costPerHour ?? 0), 0),
      reasons: [...decision.reasons, ...applied.reasons, ...gapReason],
      planId: randomUUID(),
      createdAt: now,
      planner: this.plannerName,
      reportIntervalMs: this.options.reportIntervalMs ?? 5000,
    };
    this.plans.set(report.source, plan);
    const said = planReasonsKey(plan.reasons);
    if (this.logged.get(report.source) !== said) {
      this.logged.set(report.source, said);
      this.options.logger.info('plan', {
        planId: plan.planId,
        source: report.source,
        planner: plan.planner,
        offload: plan.offload.reduce((n, o) => n + o.frameCount, 0),
        recall: plan.recall.reduce((n, r) => n + r.frameCount, 0),
        costPerHour: Number(plan.projectedCostPerHour.toFixed(4)),
        reasons: plan.reasons,
      });
    }
    return plan;
  }

  /** Feeds the learner what happened since the last report. */
  private observe(now: Date, nodes: ReadonlyMap<string, readonly ComputeNode[]>): void {
    for (const [group, list] of nodes) {
      this.learner.observeNodes(group, list, now);
      for (const n of list) {
        if (n.state === 'idle') {
          if (!this.idleSince.has(n.id)) this.idleSince.set(n.id, now.getTime());
        } else this.idleSince.delete(n.id);
      }
    }
    for (const e of this.capacity.eventsAfter(this.capacitySeq)) this.learner.observeCapacityEvent(e);
    this.capacitySeq = this.capacity.lastSeq;
    for (;;) {
      const { events, scannedTo } = this.frames.eventsAfter(this.frameSeq, {}, 5000);
      for (const e of events)
        this.learner.observeFrameEvent(
          e,
          this.frames.specsOf(e.frameId)?.job.capacityGroup ?? this.options.defaultGroup,
        );
      if (scannedTo === this.frameSeq) break;
      this.frameSeq = scannedTo;
    }
  }

  /** A report with the service's own cloud frame times where the bridge gave none, and its cloud frames. */
  private farmOf(report: FarmReport, now: Date): PolicyFarm {
    const cloud = new Map<string, { queued: number; running: number; elapsed: number[] }>();
    const groupOfJob = new Map<string, string>();
    for (const f of this.frames.unfinishedFrames()) {
      if (f.key.source !== report.source) continue;
      const c = cloud.get(f.key.sourceJobId) ?? { queued: 0, running: 0, elapsed: [] };
      if (f.state === 'queued') c.queued++;
      else {
        c.running++;
        if (f.startedAt) c.elapsed.push(Math.max(0, (now.getTime() - f.startedAt.getTime()) / 1000));
      }
      cloud.set(f.key.sourceJobId, c);
      if (!groupOfJob.has(f.key.sourceJobId))
        groupOfJob.set(
          f.key.sourceJobId,
          this.frames.specsOf(f.frameId)?.job.capacityGroup ?? this.options.defaultGroup,
        );
    }
    const jobs = report.jobs.map((j) => {
      if (j.cloudFrameTime) return j;
      const seen = this.learner.cloudFrameTime(
        j.capacityGroup ?? groupOfJob.get(j.sourceJobId) ?? this.options.defaultGroup,
        report.source,
        j.sourceJobId,
      );
      return seen ? { ...j, cloudFrameTime: seen } : j;
    });
    const frames = new Map<string, CloudFrames>(
      [...cloud].map(([id, c]) => [
        id,
        { queued: c.queued, running: c.running, runningElapsedSeconds: c.elapsed },
      ]),
    );
    // A bridge that sends each launch as a cloud job of its own names it `<its job>/<launch>`
    // (OpenCue's virtual host: `<Cuebot job>/<frame>/<generation>`): those frames are the
    // reported job's, queued ones recallable.
    for (const j of report.jobs) {
      if (frames.has(j.sourceJobId)) continue;
      const parts = [...cloud].filter(([id]) => id.startsWith(`${j.sourceJobId}/`)).map(([, c]) => c);
      if (parts.length > 0)
        frames.set(j.sourceJobId, {
          queued: parts.reduce((n, c) => n + c.queued, 0),
          running: parts.reduce((n, c) => n + c.running, 0),
          runningElapsedSeconds: parts.flatMap((c) => c.elapsed),
        });
    }
    // Jobs the service has (had) frames of, with none unfinished: nothing in its cloud. Jobs
    // it never saw keep the bridge's count.
    const known = new Set(
      this.frames
        .listJobs()
        .filter((j) => j.spec.source === report.source)
        .map((j) => j.spec.sourceJobId),
    );
    for (const j of report.jobs)
      if (!frames.has(j.sourceJobId) && known.has(j.sourceJobId))
        frames.set(j.sourceJobId, { queued: 0, running: 0 });
    const gap = this.taskGaps.gap(report.source);
    return {
      report: { ...report, jobs },
      cloud: frames,
      ...(gap && gap.seconds > 0 ? { taskGapSeconds: gap.seconds } : {}),
    };
  }

  /** Local frame times per job key, from every source's report. */
  private localFrameTimes(): Map<string, FrameTimeStats> {
    const out = new Map<string, FrameTimeStats>();
    for (const r of this.reports.values())
      for (const j of r.jobs)
        if (j.localFrameTime) out.set(`${r.source}\0${j.sourceJobId}`, j.localFrameTime);
    return out;
  }

  /** A group's figures: observed where the service has enough data, else configured. */
  parametersOf(group: string): GroupParameters {
    return this.learner.parameters(group, this.options.figures(group), this.localFrameTimes());
  }

  private policyGroup(v: CapacityGroupView, nodes: readonly ComputeNode[], now: Date): PolicyCapacityGroup {
    const p = this.parametersOf(v.spec.name);
    const boot = p.nodeBootSeconds.value;
    const t = now.getTime();
    const policyNodes: PolicyNode[] = [];
    let spot = 0;
    let dedicated = 0;
    for (const n of nodes) {
      const state = BOOTING.has(n.state)
        ? 'booting'
        : n.state === 'idle'
          ? 'idle'
          : n.state === 'running'
            ? 'busy'
            : undefined;
      if (!state) continue;
      if (n.priority === 'spot') spot++;
      else dedicated++;
      policyNodes.push({
        kind: n.priority,
        state,
        ...(state === 'booting'
          ? { readyInSeconds: Math.max(0, boot - (t - n.createdAt.getTime()) / 1000) }
          : {}),
        ...(state === 'idle' ? { idleForSeconds: (t - (this.idleSince.get(n.id) ?? t)) / 1000 } : {}),
      });
    }
    // Nodes asked for and not yet listed are booting.
    const s = v.status;
    for (let i = spot; i < (s?.targetSpotNodes ?? 0); i++)
      policyNodes.push({ kind: 'spot', state: 'booting', readyInSeconds: boot });
    for (let i = dedicated; i < (s?.targetDedicatedNodes ?? 0); i++)
      policyNodes.push({ kind: 'dedicated', state: 'booting', readyInSeconds: boot });
    const worker = v.spec.mode === BurstMode.BURST_MODE_WORKER_BURST;
    const startup = v.spec.scaleSet?.workerStartup;
    return {
      name: v.spec.name,
      ...(worker
        ? {
            mode: 'worker' as const,
            farmGroups: [...(startup?.groups ?? []), ...(startup?.pools ?? [])].filter((g) => g !== ''),
          }
        : {}),
      maxNodes: v.spec.maxDedicatedNodes + v.spec.maxSpotNodes,
      maxSpotNodes: v.spec.maxSpotNodes,
      maxDedicatedNodes: v.spec.maxDedicatedNodes,
      slotsPerNode: v.spec.taskSlotsPerNode || 1,
      nodeBootSeconds: boot,
      cloudFrameTimeRatio: p.cloudFrameTimeRatio.value,
      transferSecondsPerFrame: p.transferSecondsPerFrame.value,
      dedicatedPricePerHour: v.spec.cost?.dedicatedPerNodeHour ?? 0,
      spotPricePerHour: v.spec.cost?.spotPerNodeHour ?? 0,
      spotEvictionsPerNodeHour: p.spotEvictionsPerNodeHour.value,
      billingGranularitySeconds: p.billingGranularitySeconds.value,
      ...(p.turnaroundTargetSeconds === undefined
        ? {}
        : { turnaroundTargetSeconds: p.turnaroundTargetSeconds }),
      nodes: policyNodes,
    };
  }

  /** The studio's burst summary, with each source's last plan and each group's figures. */
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
      currency: this.options.currency,
      groups: views.map((v) => ({
        capacityGroup: v.spec.name,
        dedicatedNodes: v.status?.currentDedicatedNodes ?? 0,
        spotNodes: v.status?.currentSpotNodes ?? 0,
        costPerHour: v.costPerHour,
      })),
      sources: [...this.reports.values()].map((r) => {
        const plan = this.plans.get(r.source);
        return {
          source: r.source,
          sourceKind: (r.sourceKind ?? 'client') as SourceKind,
          lastReportAt: r.observedAt,
          queuedFrames: r.jobs.reduce((n, j) => n + j.queuedFrames, 0),
          cloudFrames: cloudBySource.get(r.source) ?? 0,
          ...(plan ? { lastPlan: plan } : {}),
        };
      }),
      parameters: views.map((v) => this.parametersOf(v.spec.name)),
      planner: this.plannerName,
    };
  }

  /** Stops: plans under way end (the capacity manager drops their resizes when it closes). */
  close(): Promise<void> {
    this.abort.abort();
    return Promise.resolve();
  }
}
