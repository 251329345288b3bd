/**
 * The virtual host: Azure capacity joining an OpenCue farm as one render host. It registers
 * with `ReportRqdStartup` in a burst allocation (created when missing), reports status on a
 * timer with every frame it answers for, opens itself to booking only while the local
 * allocations are saturated and the service's plan offloads frames, runs each launched frame
 * through the Spillway service (the command Cuebot already substituted, with its
 * environment), reports each completion with the real exit status and the frame's
 * `resource_id`, and cancels the cloud frame when Cuebot kills it. Its own state file maps
 * frames to cloud frames and keeps the watch cursor, so a restarted host reconciles.
 *
 * Recall: when the plan recalls frames of a job (local hosts are idle), the host asks the
 * service to take back that job's cloud frames that have not started, latest launched first,
 * and gives each back to Cuebot with exit status `SKIP_RETRY` (286): Cuebot puts it back to
 * WAITING without counting a retry (`FrameCompleteHandler`: SKIP_RETRY waits whatever the
 * retries; `UPDATE_FRAME_RETRIES` skips it), so a local host books it and it is never marked
 * SUCCEEDED or DEAD by the recall. A frame already rendering in the cloud is not recalled.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  backoffMs,
  BurstClient,
  BurstServiceError,
  planReasonsKey,
  silentLogger,
  sleep,
  TERMINAL_FRAME_STATES,
  type BurstPlan,
  type FrameEvent,
  type Logger,
} from '@spillway/sdk';
import { readSecretFile } from '@spillway/sdk/config';
import { cloudWorkersOf, Episodes, FrameEventFollower } from '@spillway/bridge-kit';
import { OpenCueCallError } from '../cuebot/call';
import { CuebotClient } from '../cuebot/client';
import { CORE_UNITS_PER_CORE, parseFrameName, renderHostCores } from '../cuebot/units';
import {
  openCueServices,
  type CueAllocation,
  type CoreDetail,
  type CueLayer,
  type HostReport,
  type RenderHost,
  type RunFrame,
  type RunningFrameInfo,
} from '../proto';
import { serveRqd } from '../rqd';
import type { VirtualHostConfig } from './config';
import { followLogIntoFile, rqdLogPath } from './frame-log';
import { mapPaths } from './paths';
import { shouldOpen } from './open';
import { cloudJobId, coreDetail, jobDeadline, RECALLED_EXIT_STATUS } from './policy';
import {
  farmReport,
  finishedFramesOf,
  layerGroupOf,
  renderingFramesOf,
  type ObservedHost,
  type ObservedJob,
} from './report';
import { HostStateStore, type LaunchRecord } from './state';

/** How long after its launch the service is asked for the cloud job of an abandoned launch. */
const ABANDONED_WATCH_MS = 60_000;

/** Options of `VirtualHost.start`. */
export interface VirtualHostOptions {
  readonly logger?: Logger;
  readonly abortSignal?: AbortSignal;
}

/** What the host last saw and decided, for logs and tests. */
export interface VirtualHostStatus {
  readonly open: boolean;
  readonly reason: string;
  readonly running: number;
  readonly lastPlan?: BurstPlan;
}

/** The virtual host. */
export class VirtualHost {
  private readonly cuebot: CuebotClient;
  private readonly burst: BurstClient;
  private readonly state: HostStateStore;
  private readonly server = new grpc.Server();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly episodes: Episodes;
  private readonly bootTime = Math.floor(Date.now() / 1000);
  private readonly jobStarts = new Map<string, number>();
  /** Layers change rarely: asked again after a minute, not every cycle. */
  private readonly layerCache = new Map<string, { layers: CueLayer[]; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  /** The status reports' own timer: they never wait behind a slow observation of the farm. */
  private statusTimer: NodeJS.Timeout | undefined;
  private reporting = false;
  private cycling = false;
  private watchDone: Promise<void> = Promise.resolve();
  /** Cloud logs being written where RQD writes a frame's log, by OpenCue frame id. */
  private readonly logs = new Map<string, Promise<void>>();
  private allocation: CueAllocation | undefined;
  /** Cloud jobs whose end is being reported to Cuebot. */
  private readonly settling = new Set<string>();
  private boundPort = 0;
  private current: VirtualHostStatus = { open: false, reason: 'starting', running: 0 };
  /**
   * Frames the host may answer for in all: those it had when the last plan came plus those
   * the plan offloads; 0 while closed. Cuebot books onto whatever cores it counts idle,
   * several frames in one pass, before the host's next report can lock it: a launch beyond
   * this is refused (Cuebot requeues it), so the host never takes more frames than the plan
   * offloads.
   */
  private allowedFrames = 0;
  /** The plan reasons last logged. */
  private lastReasons: string | undefined;
  /** The `source` of every frame this host submits: `opencue:<host name>`. */
  readonly source: string;

  private constructor(
    /** The configuration it runs with. */
    readonly config: VirtualHostConfig,
    options: VirtualHostOptions,
  ) {
    this.log = options.logger ?? silentLogger;
    this.episodes = new Episodes(this.log);
    this.source = `opencue:${config.hostName}`;
    this.cuebot = new CuebotClient(config.cuebot, { callTimeoutMs: 10_000 });
    const token = config.tokenFile ? readSecretFile(config.tokenFile, 'tokenFile') : undefined;
    this.burst = new BurstClient(config.service, token ? { token } : {});
    this.state = new HostStateStore(path.join(config.stateDir, `${config.hostName}.json`));
    options.abortSignal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Starts the host: allocation, RQD server, start-up report, reconcile, watch, timer. */
  static async start(config: VirtualHostConfig, options: VirtualHostOptions = {}): Promise<VirtualHost> {
    const host = new VirtualHost(config, options);
    try {
      await host.boot();
    } catch (err) {
      await host.close();
      throw err;
    }
    return host;
  }

  /** The RQD port actually bound (useful when configured as 0 in tests). */
  get rqdPort(): number {
    return this.boundPort;
  }

  /** Settles when the host stops; rejects when its frame watch failed for good. */
  get stopped(): Promise<void> {
    return this.watchDone;
  }

  /** What the host last decided. */
  get status(): VirtualHostStatus {
    return this.current;
  }

  private get totalUnits(): number {
    return renderHostCores(this.config.cores).cores_per_proc;
  }

  private bookedUnits(): number {
    let n = 0;
    for (const l of Object.values(this.state.current.launches)) n += l.run.num_cores;
    return n;
  }

  /** Frames the plan still lets the host take. */
  private framesLeft(): number {
    return Math.max(0, this.allowedFrames - Object.keys(this.state.current.launches).length);
  }

  /** Core units offered to bookings: one core per frame the plan still lets it take, within its free cores. */
  private offeredUnits(): number {
    return Math.max(
      0,
      Math.min(this.totalUnits - this.bookedUnits(), this.framesLeft() * CORE_UNITS_PER_CORE),
    );
  }

  private async boot(): Promise<void> {
    const c = this.config;
    await this.cuebot.getSystemStats({ abortSignal: this.abort.signal });
    this.allocation = await this.cuebot.ensureAllocation(c.facility, c.allocation, c.tags[0]!, {
      abortSignal: this.abort.signal,
    });
    for (const showName of c.subscribeShows) await this.ensureSubscription(showName);

    serveRqd(this.server, openCueServices(), {
      launchFrame: (run) => this.launch(run),
      killRunningFrame: (frameId, message) => this.kill(frameId, message),
      runningFrame: (frameId) => {
        const l = this.state.current.launches[frameId];
        return l ? this.runningInfo(l) : undefined;
      },
      hostReport: () => this.hostReport(),
    });
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(
        `${c.rqdListenHost}:${c.rqdPort}`,
        grpc.ServerCredentials.createInsecure(),
        (e, p) => (e ? reject(e) : resolve(p)),
      ),
    );

    // Start closed: Cuebot books nothing here until the farm is saturated and the plan allows.
    await this.cuebot.reportRqdStartup(
      { host: this.renderHost(), core_info: coreDetail(this.totalUnits, this.bookedUnits(), false) },
      { abortSignal: this.abort.signal },
    );
    const me = await this.cuebot.findHost(c.hostName, { abortSignal: this.abort.signal });
    if (me && this.allocation && me.alloc_name !== this.allocation.name) {
      await this.cuebot.setAllocation(me, this.allocation.id, { abortSignal: this.abort.signal });
      this.log.info('moved the virtual host into the burst allocation', { allocation: this.allocation.name });
    }
    // Launches recorded before a crash whose LaunchFrame Cuebot never had the answer to: it
    // took each as failed and launches the frame again (here or on another host), so that
    // launch must be the only one. Dropped, and their cloud jobs (the service may have taken
    // one before the crash) cancelled.
    this.abandonUnanswered();
    // Keep every frame we answer for in Cuebot's view at once, before anything else.
    await this.reportStatus(false);
    await this.cancelAbandoned();

    for (const l of Object.values(this.state.current.launches))
      if (l.cloudJobId) this.followLog(l, l.cloudJobId);
    this.watchDone = this.watch();
    this.watchDone.catch(() => undefined); // surfaced through `stopped`
    this.timer = setInterval(() => void this.cycle(), c.reportIntervalMs);
    // Like RQD, the host reports on its own clock: observing a farm of hundreds of jobs can
    // take longer than Cuebot waits for a report before it takes the host for down and
    // requeues every frame it runs (which then ran twice in the cloud).
    this.statusTimer = setInterval(() => void this.reportStatusNow(), c.reportIntervalMs);
    void this.cycle();
    this.log.info('virtual host ready', {
      host: c.hostName,
      rqdPort: this.boundPort,
      allocation: this.allocation?.name,
      frames: Object.keys(this.state.current.launches).length,
    });
  }

  /**
   * Drops the launches that never had their cloud job's id (the host died inside
   * LaunchFrame, before answering it: Cuebot requeued the frame), keeping their generation so
   * a later launch here is a new cloud job, and owes the cancel of their cloud jobs.
   */
  private abandonUnanswered(): void {
    const unanswered = Object.values(this.state.current.launches).filter((l) => !l.cloudJobId);
    if (unanswered.length === 0) return;
    this.state.update((s) => {
      const owed = s.abandoned ?? [];
      for (const l of unanswered) {
        delete s.launches[l.frameId];
        owed.push({
          cloudSourceJobId: l.cloudSourceJobId,
          frameName: l.run.frame_name,
          launchedAt: l.launchedAt,
        });
      }
      s.abandoned = owed;
    });
    for (const l of unanswered)
      this.log.warn('launch dropped: the host stopped before answering it, Cuebot launches the frame again', {
        frame: l.run.frame_name,
        job: l.run.job_name,
      });
  }

  /**
   * Cancels the cloud jobs of abandoned launches. A job the service does not have is looked
   * for again until a minute after its launch (a submission sent just before the crash may
   * reach the service late); one the service cannot be asked about now is tried next cycle.
   */
  private async cancelAbandoned(): Promise<void> {
    const owed = this.state.current.abandoned ?? [];
    if (owed.length === 0) return;
    const settled = new Set<string>();
    for (const a of owed) {
      if (this.abort.signal.aborted) return;
      try {
        const job = await this.burst.getJob(
          { source: this.source, sourceJobId: a.cloudSourceJobId },
          { timeoutMs: 10_000, abortSignal: this.abort.signal },
        );
        if (job.state === 'active') {
          await this.burst.cancelJob(job.jobId, {
            reason: 'its OpenCue launch was never answered: Cuebot launched the frame again',
            timeoutMs: 10_000,
            abortSignal: this.abort.signal,
          });
          this.log.info('cloud job of a dropped launch cancelled', { frame: a.frameName });
        }
        settled.add(a.cloudSourceJobId);
      } catch (err) {
        const notFound = err instanceof BurstServiceError && err.status === grpc.status.NOT_FOUND;
        if (notFound && Date.now() - a.launchedAt > ABANDONED_WATCH_MS) settled.add(a.cloudSourceJobId);
        else if (!notFound && !this.abort.signal.aborted)
          this.log.debug('cloud job of a dropped launch not cancelled yet; will retry', {
            frame: a.frameName,
            err: (err as Error).message,
          });
      }
    }
    if (settled.size > 0)
      this.state.update((s) => {
        s.abandoned = (s.abandoned ?? []).filter((a) => !settled.has(a.cloudSourceJobId));
        if (s.abandoned.length === 0) delete s.abandoned;
      });
  }

  private async ensureSubscription(showName: string): Promise<void> {
    const show = await this.cuebot.findShow(showName, { abortSignal: this.abort.signal });
    if (!show) {
      this.log.warn('show to subscribe does not exist', { show: showName });
      return;
    }
    const subs = await this.cuebot.getSubscriptions(show, { abortSignal: this.abort.signal });
    if (subs.some((s) => s.allocation_name === this.allocation?.name)) return;
    await this.cuebot.createSubscription(show, this.allocation!, 0, this.config.cores, {
      abortSignal: this.abort.signal,
    });
    this.log.info('subscribed show to the burst allocation', {
      show: showName,
      burstCores: this.config.cores,
    });
  }

  // ---- RQD --------------------------------------------------------------------------

  private async launch(run: RunFrame): Promise<void> {
    const existing = this.state.current.launches[run.frame_id];
    if (existing) {
      if (existing.resourceId === run.resource_id) return; // the same launch delivered twice
      throw Object.assign(
        new Error(`frame ${run.frame_name} is already running on ${this.config.hostName}`),
        {
          code: grpc.status.ALREADY_EXISTS,
        },
      );
    }
    if (this.bookedUnits() + run.num_cores > this.totalUnits) {
      throw Object.assign(new Error(`${this.config.hostName} has no ${run.num_cores / 100} idle cores`), {
        code: grpc.status.RESOURCE_EXHAUSTED,
      });
    }
    if (this.framesLeft() <= 0) {
      this.log.debug('launch refused: the plan offloads no more frames now; Cuebot requeues it', {
        frame: run.frame_name,
        job: run.job_name,
      });
      throw Object.assign(
        new Error(
          `${this.config.hostName} takes no more frames: the plan offloads none beyond those it runs`,
        ),
        { code: grpc.status.RESOURCE_EXHAUSTED },
      );
    }
    const generation = (this.state.current.generations[run.frame_id] ?? 0) + 1;
    const record: LaunchRecord = {
      frameId: run.frame_id,
      resourceId: run.resource_id,
      run,
      generation,
      cloudSourceJobId: cloudJobId(run.job_id, run.frame_id, generation),
      launchedAt: Date.now(),
    };
    // Intent first: a crash from here on is reconciled by resubmitting under the same key.
    this.state.update((s) => {
      s.generations[run.frame_id] = generation;
      s.launches[run.frame_id] = record;
    });
    // The plan's frames are booked: lock at once, not at the next cycle.
    if (this.framesLeft() <= 0 && this.current.open) this.reportStatusSoon();
    try {
      await this.submit(record);
    } catch (err) {
      if (!this.state.current.launches[run.frame_id] || this.settling.has(record.cloudSourceJobId)) {
        // The service took it and it ended while the call waited: reported to Cuebot already.
        this.log.info('the service answered late; the frame had already ended in the cloud', {
          frame: run.frame_name,
        });
        return;
      }
      // The generation is given back: the service may have taken the job before the call gave
      // up (a slow service past the launch deadline), and Cuebot's next launch of the frame
      // must find that job under the same key, not make a second one that renders it again.
      this.state.update((s) => {
        delete s.launches[run.frame_id];
        if (generation > 1) s.generations[run.frame_id] = generation - 1;
        else delete s.generations[run.frame_id];
      });
      this.log.warn('could not hand the frame to the service; Cuebot will requeue it', {
        frame: run.frame_name,
        err: (err as Error).message,
      });
      throw Object.assign(
        new Error(`the Spillway service did not take ${run.frame_name}: ${(err as Error).message}`),
        {
          code: grpc.status.UNAVAILABLE,
        },
      );
    }
    this.log.info('frame launched in the cloud', { frame: run.frame_name, job: run.job_name, generation });
  }

  private async submit(record: LaunchRecord): Promise<void> {
    const run = record.run;
    const number = parseFrameName(run.frame_name)?.number ?? 0;
    const submitted = this.jobStarts.get(run.job_id) ?? Math.floor(record.launchedAt / 1000);
    // The farm's paths as the cloud mounts them: inputs read and outputs written on the
    // farm's storage, wherever the frame runs.
    const rules = this.config.pathMap;
    const command = mapPaths(run.command, rules);
    const environment = Object.fromEntries(
      Object.entries(run.environment).map(([k, v]) => [k, mapPaths(v, rules)]),
    );
    const res = await this.burst.submitFrames(
      {
        source: this.source,
        sourceKind: 'opencue',
        sourceJobId: record.cloudSourceJobId,
        name: `${run.job_name}/${run.frame_name}`,
        commandTemplate: command,
        environment,
        deadline: jobDeadline(submitted, this.config.turnaroundSeconds, run.environment),
        ...(this.config.capacityGroup ? { capacityGroup: this.config.capacityGroup } : {}),
      },
      [{ sourceTaskId: run.frame_id, frameStart: number, frameEnd: number, command }],
      // Inside Cuebot's LaunchFrame deadline: a slow service fails the launch (Cuebot requeues).
      { timeoutMs: 4000, abortSignal: this.abort.signal },
    );
    this.state.update((s) => {
      const l = s.launches[record.frameId];
      if (l) l.cloudJobId = res.jobId;
    });
    this.followLog(record, res.jobId);
    if (this.state.current.launches[record.frameId]?.killRequested) await this.cancelCloud(record.frameId);
    // Already ended in the service (a launch that timed out after the service took the frame,
    // which finished before this relaunch): its end went by the watch while no launch
    // answered for it, so it is reported from here, once Cuebot has its launch's answer.
    const ended = res.frames[0];
    if (ended && TERMINAL_FRAME_STATES.has(ended.state))
      setImmediate(() => {
        const l = this.state.current.launches[record.frameId];
        if (l?.cloudSourceJobId === record.cloudSourceJobId)
          void this.settle(l, ended.state).catch((err: Error) =>
            this.log.warn('could not report a frame the service had already finished', {
              frame: l.run.frame_name,
              err: err.message,
            }),
          );
      });
  }

  private async kill(frameId: string, message: string): Promise<void> {
    const l = this.state.current.launches[frameId];
    if (!l) return;
    this.state.update((s) => {
      const x = s.launches[frameId];
      if (x) x.killRequested = true;
    });
    this.log.info('Cuebot killed a frame; cancelling it in the cloud', { frame: l.run.frame_name, message });
    await this.cancelCloud(frameId);
  }

  private async cancelCloud(frameId: string): Promise<void> {
    const l = this.state.current.launches[frameId];
    if (!l?.cloudJobId) return; // not submitted yet: submit() cancels once it is
    await this.burst.cancelJob(l.cloudJobId, { reason: 'killed in OpenCue', abortSignal: this.abort.signal });
  }

  private runningInfo(l: LaunchRecord): RunningFrameInfo {
    return {
      resource_id: l.resourceId,
      job_id: l.run.job_id,
      job_name: l.run.job_name,
      frame_id: l.run.frame_id,
      frame_name: l.run.frame_name,
      layer_id: l.run.layer_id,
      num_cores: l.run.num_cores,
      start_time: l.launchedAt,
      max_rss: 0,
      rss: 0,
      max_vsize: 0,
      vsize: 0,
      attributes: { spillway_cloud_job: l.cloudJobId ?? '' },
      llu_time: Math.floor(Date.now() / 1000),
      num_gpus: 0,
    };
  }

  private renderHost(): RenderHost {
    const memKb = this.config.memoryGb * 1024 * 1024;
    return {
      name: this.config.hostName,
      nimby_enabled: false,
      nimby_locked: false,
      facility: this.config.facility,
      ...renderHostCores(this.config.cores),
      total_swap: 0,
      total_mem: memKb,
      total_mcp: 100 * 1024 * 1024,
      free_swap: 0,
      free_mem: memKb,
      free_mcp: 100 * 1024 * 1024,
      load: 0,
      boot_time: this.bootTime,
      tags: [...this.config.tags],
      state: 'UP',
      attributes: { SP_OS: 'linux', spillway: 'virtual-host' },
      num_gpus: 0,
      free_gpu_mem: 0,
      total_gpu_mem: 0,
    };
  }

  private hostReport(): HostReport {
    return {
      host: this.renderHost(),
      frames: Object.values(this.state.current.launches).map((l) => this.runningInfo(l)),
      core_info: this.coreInfo(this.current.open),
    };
  }

  /** Open only while the plan leaves cores to offer; every other core reported locked. */
  private coreInfo(open: boolean): CoreDetail {
    const offered = this.offeredUnits();
    return coreDetail(this.totalUnits, this.bookedUnits(), open && offered > 0, offered);
  }

  private async reportStatus(open: boolean): Promise<void> {
    const report = this.hostReport();
    report.core_info = this.coreInfo(open);
    await this.cuebot.reportStatus(report, { abortSignal: this.abort.signal });
  }

  /** The timer's status report, unless one is under way. */
  private async reportStatusNow(): Promise<void> {
    if (this.reporting || this.abort.signal.aborted) return;
    this.reporting = true;
    try {
      await this.reportStatus(this.current.open);
      this.episodes.recovered('status', 'status reports reach Cuebot again');
    } catch (err) {
      this.statusFailed(err);
    } finally {
      this.reporting = false;
    }
  }

  /** A failed status report, said once per episode (nothing when the host is closing). */
  private statusFailed(err: unknown): void {
    if (this.abort.signal.aborted) return;
    const e = err as Error & { code?: string };
    this.episodes.problem('status', `${e.name}:${e.code ?? ''}`, 'status report to Cuebot failed', {
      err: e.message,
    });
  }

  /** A status report now, outside the cycle (its failure is the cycle's to see again). */
  private reportStatusSoon(): void {
    this.reportStatus(this.current.open).catch((err: Error) => {
      if (!this.abort.signal.aborted)
        this.log.debug('status report after a launch failed', { err: err.message });
    });
  }

  // ---- the cycle: observe the farm, ask for a plan, report status ---------------------

  private async cycle(): Promise<void> {
    if (this.cycling || this.abort.signal.aborted) return;
    this.cycling = true;
    try {
      await this.cancelAbandoned();
      let decision = { open: false, offerUnits: 0, reason: 'farm not observed' };
      let plan: BurstPlan | undefined;
      let planOffload = 0;
      try {
        const farm = await this.observe();
        plan = await this.burst.reportFarmState(
          farmReport({
            source: this.source,
            now: new Date(),
            jobs: farm.jobs,
            hosts: farm.hosts,
            ...(farm.cloudHosts ? { cloudHosts: farm.cloudHosts } : {}),
            turnaroundSeconds: this.config.turnaroundSeconds,
          }),
          { timeoutMs: 10_000, abortSignal: this.abort.signal },
        );
        // The plan's reasons are logged when they change, once, not every cycle.
        const said = planReasonsKey(plan.reasons);
        if (said !== this.lastReasons) {
          this.lastReasons = said;
          this.log.info('plan', {
            offload: plan.offload.reduce((n, o) => n + o.frameCount, 0),
            costPerHour: Number(plan.projectedCostPerHour.toFixed(4)),
            reasons: plan.reasons,
          });
        }
        planOffload = plan.offload.reduce((n, o) => n + o.frameCount, 0);
        decision = shouldOpen({
          burstableWaiting: farm.burstableWaiting,
          planOffload,
          bookedUnits: this.bookedUnits(),
          totalUnits: this.totalUnits,
        });
        this.episodes.recovered('plan', 'farm observed and plan received again');
      } catch (err) {
        if (this.abort.signal.aborted) return;
        const e = err as Error & { code?: string };
        decision = { open: false, offerUnits: 0, reason: `closed: ${e.message}` };
        // Once per episode: the same fault every cycle is logged when it starts.
        this.episodes.problem(
          'plan',
          `${e.name}:${e.code ?? ''}`,
          'no plan: the host stays closed to bookings',
          {
            err: e.message,
          },
        );
      }
      this.log.debug('cycle', { open: decision.open, reason: decision.reason });
      if (decision.open !== this.current.open)
        this.log.info(decision.open ? 'opening to bookings' : 'closing to bookings', {
          reason: decision.reason,
        });
      this.allowedFrames = decision.open ? Object.keys(this.state.current.launches).length + planOffload : 0;
      this.current = {
        open: decision.open,
        reason: decision.reason,
        running: Object.keys(this.state.current.launches).length,
        ...(plan ? { lastPlan: plan } : {}),
      };
      try {
        await this.reportStatus(decision.open);
        this.episodes.recovered('status', 'status reports reach Cuebot again');
        // After the closed status: a frame given back is booked on an idle local host, not here.
        if (plan && plan.recall.length > 0) await this.recall(plan.recall);
      } catch (err) {
        this.statusFailed(err);
      }
    } finally {
      this.cycling = false;
    }
  }

  private async observe(): Promise<{
    hosts: ObservedHost[];
    cloudHosts: Map<string, string> | undefined;
    burstableWaiting: number;
    jobs: ObservedJob[];
  }> {
    const opts = { abortSignal: this.abort.signal };
    // Worker burst: the RQD hosts that joined from the served worker-burst groups are not the
    // farm's own (reported apart, their frames not local).
    const workerGroups = this.config.workerGroups;
    const cloudHosts =
      workerGroups.length > 0
        ? await cloudWorkersOf(this.burst.capacity, workerGroups, {
            ...opts,
            onUnlisted: (group, err) =>
              this.log.debug('worker-burst group not listed', { group, err: err.message }),
          })
        : undefined;
    const allocs = (await this.cuebot.getAllocations(opts)).filter((a) => a.name !== this.allocation?.name);
    const cueHosts =
      allocs.length > 0 ? await this.cuebot.getHosts({ allocs: allocs.map((a) => a.name) }, opts) : [];
    const hosts: ObservedHost[] = cueHosts
      .filter((h) => h.name !== this.config.hostName)
      .map((h) => ({
        name: h.name,
        cores: h.cores,
        idleCores: h.idle_cores,
        usable: h.state === 'UP' && h.lock_state === 'OPEN',
        tags: h.tags,
      }));
    const offloaded = new Map<string, number>();
    for (const l of Object.values(this.state.current.launches))
      offloaded.set(l.run.job_id, (offloaded.get(l.run.job_id) ?? 0) + 1);
    let burstableWaiting = 0;
    const jobs: ObservedJob[] = [];
    const jobList = await this.cuebot.getJobs({}, opts);
    const live = new Set(jobList.map((j) => j.id));
    for (const id of this.layerCache.keys()) if (!live.has(id)) this.layerCache.delete(id);
    for (const job of jobList) {
      this.jobStarts.set(job.id, job.start_time);
      const layers = await this.layersOf(job.id);
      const burstLayers = layers
        .filter((l) => l.tags.some((t) => this.config.tags.includes(t)))
        .map((l) => l.name);
      const stats = job.job_stats;
      let queued = stats?.waiting_frames ?? 0;
      if (burstLayers.length > 0 && burstLayers.length < layers.length) {
        queued = (
          await this.cuebot.getFrames(
            job,
            { layers: burstLayers, states: { frame_states: ['WAITING'] } },
            opts,
          )
        ).length;
      }
      if (burstLayers.length > 0) burstableWaiting += queued;
      // What the policy needs of the frames the cloud could take (of burst-tagged layers; of
      // every layer when the host serves worker-burst groups, whose RQD hosts take any): when
      // each rendering one started and where, and how long the finished ones took where.
      let timing: Pick<ObservedJob, 'finished' | 'rendering'> = {};
      if (burstLayers.length > 0 || cloudHosts) {
        const frames = await this.cuebot.getFrames(
          job,
          {
            ...(burstLayers.length > 0 && burstLayers.length < layers.length ? { layers: burstLayers } : {}),
            states: { frame_states: ['RUNNING', 'SUCCEEDED'] },
          },
          opts,
        );
        const here = new Set(Object.keys(this.state.current.generations));
        timing = { finished: finishedFramesOf(frames, here), rendering: renderingFramesOf(frames, here) };
      }
      jobs.push({
        id: job.id,
        name: job.name,
        priority: job.priority,
        startTime: job.start_time,
        group: layerGroupOf(layers, this.config.tags),
        waitingFrames: queued,
        runningFrames: stats?.running_frames ?? 0,
        offloadedFrames: offloaded.get(job.id) ?? 0,
        succeededFrames: stats?.succeeded_frames ?? 0,
        burstable: burstLayers.length > 0,
        ...timing,
      });
    }
    return { hosts, cloudHosts, burstableWaiting, jobs };
  }

  private async layersOf(jobId: string): Promise<CueLayer[]> {
    const hit = this.layerCache.get(jobId);
    if (hit && Date.now() - hit.at < 60_000) return hit.layers;
    const layers = await this.cuebot.getLayers({ id: jobId }, { abortSignal: this.abort.signal });
    this.layerCache.set(jobId, { layers, at: Date.now() });
    return layers;
  }

  /** Takes back up to `frameCount` not-yet-started cloud frames of each job (latest launched first). */
  private async recall(recall: BurstPlan['recall']): Promise<void> {
    for (const r of recall) {
      let wanted = r.frameCount;
      const candidates = Object.values(this.state.current.launches)
        .filter((l) => l.run.job_id === r.sourceJobId && l.cloudJobId && !l.killRequested)
        .sort((a, b) => b.launchedAt - a.launchedAt);
      for (const l of candidates) {
        if (wanted <= 0 || this.abort.signal.aborted) break;
        const res = await this.burst.recallFrames(
          {
            keys: [{ source: this.source, sourceJobId: l.cloudSourceJobId, sourceTaskId: l.frameId }],
            reason: 'local hosts are idle',
          },
          { timeoutMs: 10_000, abortSignal: this.abort.signal },
        );
        if (res.recalled.length === 0) continue; // started in the cloud: it finishes there
        wanted -= 1;
        this.log.info('frame recalled: not started in the cloud, local hosts are idle', {
          frame: l.run.frame_name,
          job: l.run.job_name,
        });
      }
    }
  }

  // ---- the watch: cloud results back to Cuebot --------------------------------------

  private watch(): Promise<void> {
    return new FrameEventFollower({
      client: this.burst,
      source: this.source,
      cursor: () => this.state.current.cursor,
      saveCursor: (cursor) =>
        this.state.update((s) => {
          s.cursor = cursor;
        }),
      handle: (ev) => this.onEvent(ev),
      logger: this.log,
      abortSignal: this.abort.signal,
    }).run();
  }

  private async onEvent(ev: FrameEvent): Promise<void> {
    const l = Object.values(this.state.current.launches).find(
      (x) => x.cloudSourceJobId === ev.key.sourceJobId,
    );
    if (l && TERMINAL_FRAME_STATES.has(ev.state)) await this.settle(l, ev.state, ev.exitCode);
  }

  /** A cloud frame ended: its completion to Cuebot (once), and the launch forgotten. */
  private async settle(l: LaunchRecord, state: FrameEvent['state'], exitCode?: number): Promise<void> {
    const key = l.cloudSourceJobId;
    // Reported once: the watch and a relaunch's answer may both say the frame ended.
    if (this.settling.has(key) || this.state.current.launches[l.frameId]?.cloudSourceJobId !== key) return;
    this.settling.add(key);
    try {
      let exitStatus = 0;
      let exitSignal = 0;
      if (state === 'failed') exitStatus = exitCode && exitCode !== 0 ? exitCode : 1;
      else if (state === 'recalled' && !l.killRequested) {
        // Given back, not failed: Cuebot waits it again without counting a retry.
        exitStatus = RECALLED_EXIT_STATUS;
      } else if (state === 'cancelled' || state === 'recalled') {
        exitStatus = l.killRequested ? 137 : 1;
        exitSignal = l.killRequested ? 9 : 0;
      }
      // The log is whole in the frame's log path before Cuebot hears the frame ended.
      const log = this.logs.get(l.frameId);
      if (log) await Promise.race([log, sleep(10_000, this.abort.signal)]);
      await this.reportCompletion(l, exitStatus, exitSignal);
      this.state.update((s) => {
        delete s.launches[l.frameId];
      });
      this.log.info('frame finished in the cloud; reported to Cuebot', {
        frame: l.run.frame_name,
        state,
        exitStatus,
      });
    } finally {
      this.settling.delete(key);
    }
  }

  /**
   * Writes the cloud frame's log where RQD would (the frame's log path), as it grows, so
   * CueGUI's log viewer shows it; one writer per frame.
   */
  private followLog(l: LaunchRecord, cloudJobId: string): void {
    const file = rqdLogPath(l.run);
    if (!file || this.logs.has(l.frameId)) return;
    const frame = parseFrameName(l.run.frame_name)?.number ?? 0;
    const writing = followLogIntoFile(this.burst, cloudJobId, frame, file, {
      abortSignal: this.abort.signal,
      logger: this.log,
    })
      .catch((err: unknown) => {
        if (!this.abort.signal.aborted)
          this.log.warn('could not write the cloud log to the frame log path', {
            frame: l.run.frame_name,
            file,
            err: (err as Error).message,
          });
      })
      .finally(() => this.logs.delete(l.frameId));
    this.logs.set(l.frameId, writing);
  }

  /** Reports a completion, retrying while Cuebot is unreachable (the cursor waits with it). */
  private async reportCompletion(l: LaunchRecord, exitStatus: number, exitSignal: number): Promise<void> {
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        await this.cuebot.reportRunningFrameCompletion(
          {
            host: this.renderHost(),
            frame: this.runningInfo(l),
            exit_status: exitStatus,
            exit_signal: exitSignal,
            run_time: Math.round((Date.now() - l.launchedAt) / 1000),
          },
          { abortSignal: this.abort.signal },
        );
        return;
      } catch (err) {
        const retryable =
          err instanceof OpenCueCallError &&
          (err.status === grpc.status.UNAVAILABLE || err.status === grpc.status.DEADLINE_EXCEEDED);
        if (!retryable) {
          this.log.warn('Cuebot refused the completion; dropping it', {
            frame: l.run.frame_name,
            err: (err as Error).message,
          });
          return;
        }
        await sleep(backoffMs(attempt, { initialIntervalMs: 500, maxIntervalMs: 10_000 }), this.abort.signal);
      }
    }
    throw new Error('closed before the completion was reported');
  }

  /** Stops the timer, the watch and the RQD server. Frames keep running in the cloud. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.abort.abort();
    await this.watchDone.catch(() => undefined);
    await Promise.allSettled([...this.logs.values()]);
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.cuebot.close();
    this.burst.close();
  }
}
