/**
 * One poll of the Deadline bridge: read the farm (active jobs, their tasks, workers, limit
 * groups), report it to the service (`report.ts` builds the report), and carry out the plan —
 * suspend exactly the chosen queued tasks (`offload.ts` chooses them) and submit them as
 * cloud frames keyed `(deadline:<name>, job _id, TaskID)`, and recall what the plan recalls.
 */
import { stagingDirOf } from '@spillway/bridge-kit';
import { parseFrameRange, planReasonsKey, type BurstPlan, type FrameSpec, type JobSpec } from '@spillway/sdk';
import { shellQuote } from '@spillway/sdk/template';
import type { DeadlineJob, DeadlineLimit, DeadlineTask } from '../webservice';
import type { JobAssetSync, JobAssets } from './assets';
import { gpusOf, type BridgeContext } from './context';
import { capByLimits, chooseOffload, lowered, type LimitUse } from './offload';
import { farmReport } from './report';
import type { Settler } from './returns';
import type { WorkerBurstCycle } from './workers';
import { sourceTaskIdOf, taskIdOf, taskKey, type TaskId, type TaskRecord } from './state';

/** The staging folder of a task inside its job's output folder. */
export function stagingOf(outputDir: string, jobId: string, taskId: TaskId): string {
  return stagingDirOf(outputDir, `${jobId}-${taskId}`);
}

/** A task's frames (`1-4`, `7`, `1-7:2`) to [first, last], by the SDK's one frame-range parser. */
export function parseTaskFrames(frames: string): [number, number] {
  const runs = parseFrameRange(frames, 'task.Frames');
  return [runs[0]!.start, runs[runs.length - 1]!.end];
}

/** The poll cycle. */
export class PollCycle {
  private readonly loggedLocal = new Set<string>();
  /** The last plan the service answered. */
  lastPlan: BurstPlan | undefined;
  /** The reasons last logged. */
  private lastReasons: string | undefined;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly assets: JobAssetSync,
    private readonly settler: Settler,
    private readonly workerBurst?: WorkerBurstCycle,
  ) {}

  /** Reads, reports, acts. */
  async run(): Promise<void> {
    const { ctx } = this;
    const { deadline, state } = ctx;
    const [jobs, workers, limits] = await Promise.all([
      deadline.listJobs(['active'], ctx.sig),
      deadline.listWorkers(ctx.sig),
      // Limit groups only cap what leaves: a Web Service that cannot list them does not stop the bridge.
      deadline.listLimits(ctx.sig).catch((err: Error) => {
        ctx.log.debug('limit groups unavailable', { error: err.message });
        return [];
      }),
    ]);
    const tasks = new Map<string, DeadlineTask[]>();
    for (const job of jobs) {
      ctx.jobs.set(job.id, job);
      tasks.set(job.id, await deadline.listTasks(job.id, ctx.sig));
    }
    // Limit groups lowered for cloud frames that have come back are raised again first.
    this.readLimits(limits);
    await this.applyLimits(limits, new Map());
    const live = new Set(jobs.map((j) => j.id));
    ctx.retainJobs(live);
    this.assets.retain(live);
    const offloaded = new Map<string, number>();
    for (const r of state.records((r) => r.phase === 'cloud' || r.phase === 'suspending'))
      offloaded.set(r.jobId, (offloaded.get(r.jobId) ?? 0) + 1);
    // Worker burst: the cloud workers that joined the farm are not counted as its own.
    const cloudWorkers = await this.workerBurst?.members();
    const report = farmReport({
      ...(cloudWorkers ? { cloudWorkers } : {}),
      source: ctx.source,
      now: new Date(),
      jobs,
      tasks,
      workers,
      offloaded,
      burstable: (j) => this.burstable(j),
      deadline: (j) => ctx.deadlineOf(j),
      capacityGroup: (j) => ctx.capacityGroupOf(j),
      bridgeTasks: new Set(Object.keys(state.current.tasks)),
    });
    const plan = await ctx.burst.reportFarmState(report, ctx.sig);
    this.lastPlan = plan;
    // The plan's reasons are logged when they change, once, not every cycle.
    const said = planReasonsKey(plan.reasons);
    if (said !== this.lastReasons) {
      this.lastReasons = said;
      ctx.log.info('plan', {
        offload: plan.offload.reduce((n, o) => n + o.frameCount, 0),
        recall: plan.recall.reduce((n, r) => n + r.frameCount, 0),
        costPerHour: Number(plan.projectedCostPerHour.toFixed(4)),
        reasons: plan.reasons,
      });
    }

    // Tasks kept local for good are forgotten once their job has left the active list.
    const stale = state.records((r) => r.phase === 'local' && !live.has(r.jobId));
    if (stale.length)
      state.update((s) => {
        for (const r of stale) delete s.tasks[taskKey(r.jobId, r.taskId)];
      });

    const chosen = chooseOffload({
      jobs: jobs.filter((j) => ctx.route(j).ok),
      tasks,
      wanted: new Map(plan.offload.map((o) => [o.sourceJobId, o.frameCount])),
      exclude: new Set(Object.keys(state.current.tasks)),
    });
    for (const [jobId, ids] of await this.withinLimits(chosen, limits)) {
      const capacityGroup = plan.offload.find((o) => o.sourceJobId === jobId)?.capacityGroup;
      await this.offload(ctx.jobs.get(jobId)!, ids, tasks.get(jobId) ?? [], capacityGroup);
    }
    for (const r of plan.recall) await this.recall(r.sourceJobId, r.frameCount);
    // Worker burst: the cloud workers that joined the farm drain, come back or leave.
    await this.workerBurst?.run(workers, tasks);
  }

  /** What Deadline's limit of each group is, as last read or set. */
  private readonly deadlineLimits = new Map<string, number>();

  private readLimits(limits: readonly DeadlineLimit[]): void {
    for (const l of limits) this.deadlineLimits.set(l.name, l.limit);
  }

  /** Each limit group: the studio's limit, its local stubs, and the cloud frames of its jobs the bridge holds. */
  private limitUses(limits: readonly DeadlineLimit[]): LimitUse[] {
    const held = this.ctx.state.current.limits ?? {};
    const cloud = this.ctx.state.records((r) => r.phase === 'suspending' || r.phase === 'cloud');
    return limits.map((l) => ({
      name: l.name,
      limit: held[l.name] ?? l.limit,
      local: l.inUse,
      cloud: cloud.filter((r) => this.ctx.jobs.get(r.jobId)?.limits.includes(l.name)).length,
    }));
  }

  /**
   * Sets each limit group's Deadline limit to the studio's limit less the cloud frames the
   * bridge holds (and `adding`, about to leave), so local workers take only what is left;
   * the studio's value is written to the state file before a limit is lowered, and the
   * limit is restored once no cloud frame holds it.
   */
  private async applyLimits(
    limits: readonly DeadlineLimit[],
    adding: ReadonlyMap<string, number>,
  ): Promise<void> {
    const { ctx } = this;
    for (const u of this.limitUses(limits)) {
      const want = lowered({ limit: u.limit, cloud: u.cloud + (adding.get(u.name) ?? 0) });
      const now = this.deadlineLimits.get(u.name);
      const held = ctx.state.current.limits?.[u.name];
      if (want !== u.limit && held === undefined) {
        ctx.state.update((s) => {
          s.limits = { ...s.limits, [u.name]: u.limit };
        });
      }
      if (want !== now) {
        await ctx.deadline.setLimit(u.name, want, ctx.sig);
        this.deadlineLimits.set(u.name, want);
        ctx.log.info('limit group set for cloud frames', {
          limit: u.name,
          studio: u.limit,
          deadline: want,
          cloud: u.cloud + (adding.get(u.name) ?? 0),
        });
      }
      if (want === u.limit && held !== undefined) {
        ctx.state.update((s) => {
          const rest = { ...s.limits };
          delete rest[u.name];
          s.limits = rest;
        });
      }
    }
  }

  /**
   * The chosen tasks that may leave without any limit group having more of its jobs' tasks
   * rendering, locally and in the cloud together, than the studio's limit: limits are lowered
   * for them before anything is suspended, then read again (a local worker may have taken a
   * stub meanwhile) and the choice trimmed to what is still free.
   */
  private async withinLimits(
    chosen: Map<string, TaskId[]>,
    limits: readonly DeadlineLimit[],
  ): Promise<Map<string, TaskId[]>> {
    const { ctx } = this;
    if (limits.length === 0 || chosen.size === 0) return chosen;
    const count = (c: ReadonlyMap<string, readonly TaskId[]>): Map<string, number> => {
      const n = new Map<string, number>();
      for (const [jobId, ids] of c)
        for (const l of ctx.jobs.get(jobId)?.limits ?? []) n.set(l, (n.get(l) ?? 0) + ids.length);
      return n;
    };
    let capped = capByLimits(chosen, ctx.jobs, this.limitUses(limits));
    const touched = count(capped);
    if (touched.size === 0) return capped;
    await this.applyLimits(limits, touched);
    const again = await ctx.deadline.listLimits(ctx.sig);
    this.readLimits(again);
    capped = capByLimits(capped, ctx.jobs, this.limitUses(again));
    await this.applyLimits(again, count(capped));
    return capped;
  }

  private burstable(job: DeadlineJob): boolean {
    const r = this.ctx.route(job);
    if (!r.ok && !this.loggedLocal.has(job.id)) {
      this.loggedLocal.add(job.id);
      this.ctx.log.info('job stays on the local farm', {
        job: job.id,
        name: job.name,
        plugin: job.plugin,
        reason: r.reason,
      });
    }
    return r.ok;
  }

  private async offload(
    job: DeadlineJob,
    ids: TaskId[],
    tasks: readonly DeadlineTask[],
    capacityGroup?: string,
  ): Promise<void> {
    const { ctx } = this;
    const { config, deadline, state, log } = ctx;
    const route = ctx.route(job);
    if (!route.ok || ids.length === 0) return;
    // Assets first: a job whose scene cannot be synced is not touched (no task suspended).
    let assets: JobAssets | undefined;
    try {
      assets = await this.assets.of(job);
    } catch (err) {
      log.warn('asset sync failed; the job stays on the local farm this cycle', {
        job: job.id,
        error: (err as Error).message,
      });
      return;
    }
    // Write-ahead: a restarted bridge must know these suspensions are its own.
    state.update((s) => {
      for (const id of ids) s.tasks[taskKey(job.id, id)] = { jobId: job.id, taskId: id, phase: 'suspending' };
    });
    await deadline.taskCommand('suspend', job.id, ids, ctx.sig);
    const now = await deadline.listTasks(job.id, ctx.sig);
    const suspended = now.filter((t) => ids.includes(t.taskId) && t.state === 'suspended');
    state.forget(
      job.id,
      ids.filter((id) => !suspended.some((t) => t.taskId === id)),
    );
    if (suspended.length === 0) return;

    const group = capacityGroup ?? ctx.capacityGroupOf(job);
    let gpu: Awaited<ReturnType<typeof ctx.groupGpu>>;
    try {
      gpu = await ctx.groupGpu(group);
    } catch (err) {
      log.warn('capacity group unreadable; resuming the tasks locally', {
        job: job.id,
        group,
        error: (err as Error).message,
      });
      await deadline.taskCommand(
        'resume',
        job.id,
        suspended.map((t) => t.taskId),
        ctx.sig,
      );
      state.forget(
        job.id,
        suspended.map((t) => t.taskId),
      );
      return;
    }
    const frames: FrameSpec[] = [];
    const records: TaskRecord[] = [];
    for (const t of suspended) {
      const [a, b] = parseTaskFrames(t.frames || tasks.find((x) => x.taskId === t.taskId)?.frames || '');
      const built = ctx.cloudCommand(job, a, b, assets?.root, gpu);
      if (!built.supported) continue;
      const command = config.commandWrapper
        ? `${config.commandWrapper} /bin/sh -c ${shellQuote(built.command)}`
        : built.command;
      frames.push({
        sourceTaskId: sourceTaskIdOf(t.taskId),
        frameStart: a,
        frameEnd: b,
        command,
        environment: {
          ...job.environment,
          DEADLINE_JOB_ID: job.id,
          DEADLINE_TASK_ID: sourceTaskIdOf(t.taskId),
          DEADLINE_FRAME_START: String(a),
          DEADLINE_FRAME_END: String(b),
        },
      });
      records.push({
        jobId: job.id,
        taskId: t.taskId,
        phase: 'cloud',
        outputDir: route.outputDir,
        frameStart: a,
        frameEnd: b,
        ...(built.redirectsOutput && route.shared
          ? { inPlace: true, expectFrameNumbers: built.expectFrameNumbers }
          : built.redirectsOutput
            ? {
                staging: stagingOf(route.outputDir, job.id, t.taskId),
                expectFrameNumbers: built.expectFrameNumbers,
              }
            : {}),
      });
    }
    const spec: JobSpec = {
      source: ctx.source,
      sourceKind: 'deadline',
      sourceJobId: job.id,
      name: job.name,
      commandTemplate: '',
      outputDestination: route.outputDir,
      // Outputs to a SHARED location: the nodes write them there, the bridge verifies them in place.
      ...(route.shared && records.some((r) => r.inPlace) ? { sharedOutput: route.shared } : {}),
      maxRetries: config.cloudRetries,
      ...(assets ? { assetManifestId: assets.manifestId } : {}),
      priority: Math.max(0, Math.min(100, Math.round(job.priority))),
      deadline: ctx.deadlineOf(job),
      ...(group ? { capacityGroup: group } : {}),
      ...(gpusOf(job) > 0 ? { gpus: gpusOf(job) } : {}),
      ...(config.frameTimeoutMs ? { frameTimeoutMs: config.frameTimeoutMs } : {}),
    };
    let submitted: { frameId: string; taskId: TaskId }[];
    try {
      const res = await ctx.burst.submitFrames(spec, frames, ctx.sig);
      submitted = res.frames.map((f) => ({ frameId: f.frameId, taskId: taskIdOf(f.key.sourceTaskId) }));
    } catch (err) {
      // No task may stay suspended without a cloud frame: give them back to the farm.
      const back = suspended.map((t) => t.taskId);
      log.warn('submission failed; resuming the tasks locally', {
        job: job.id,
        tasks: back,
        error: (err as Error).message,
      });
      await deadline.taskCommand('resume', job.id, back, ctx.sig);
      state.forget(job.id, back);
      return;
    }
    state.update((s) => {
      for (const r of records) {
        const f = submitted.find((x) => x.taskId === r.taskId);
        s.tasks[taskKey(job.id, r.taskId)] = { ...r, ...(f ? { frameId: f.frameId } : {}) };
      }
    });
    ctx.counters.offloaded += records.length;
    log.info('offloaded', {
      job: job.id,
      name: job.name,
      tasks: records.map((r) => r.taskId),
      capacityGroup: spec.capacityGroup ?? '(default)',
    });
  }

  private async recall(jobId: string, count: number): Promise<void> {
    const { ctx } = this;
    const keys = ctx.state
      .records((r) => r.jobId === jobId && r.phase === 'cloud')
      .map((r) => ({ source: ctx.source, sourceJobId: jobId, sourceTaskId: sourceTaskIdOf(r.taskId) }));
    if (keys.length === 0 || count <= 0) return;
    // A short deadline: the cycle holds the lock the frame watch needs.
    const res = await ctx.burst.recallFrames(
      { keys, maxFrames: count, reason: 'local workers are idle' },
      { ...ctx.sig, timeoutMs: 10_000 },
    );
    for (const k of res.recalled)
      await this.settler.settle(jobId, taskIdOf(k.sourceTaskId), 'recalled', '', 'local workers are idle');
  }
}
