/**
 * The Deadline bridge, offload mode. Every `pollIntervalMs` it reads the active jobs, their
 * tasks, the workers and limit groups; reports the farm to the Spillway service; and acts on
 * the plan: it suspends exactly the queued tasks no idle local worker could take, builds each
 * task's command from the job's plugin, and submits the frames keyed
 * `(deadline:<name>, job _id, TaskID)`. A watch on the service's frame events (resumed from a
 * cursor in the bridge's state file) completes tasks after their outputs are verified and
 * placed, and resumes tasks whose cloud frame failed or was recalled. At start it reconciles
 * from the service and Deadline, so a restart neither loses nor duplicates a frame.
 *
 * Worker-burst mode (growing the farm with Deadline workers on scale-set VMs) fits beside
 * this: it needs the same farm reading and report, and acts on `plan.targets` instead of
 * `plan.offload`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as storage from '@spillway/sdk/storage';
import {
  BurstClient,
  type BurstPlan,
  BurstServiceError,
  type Frame,
  type FrameSpec,
  type FrameState,
  type JobSpec,
  type Logger,
  type OutputFile,
  silentLogger,
  sleep,
  TERMINAL_FRAME_STATES,
} from '@spillway/sdk';
import { readSecretFile } from '@spillway/sdk/config';
import { buildCommand, mapPath, pathBelow, sceneFileOf, shq } from '../commands';
import { DeadlineClient, type DeadlineJob, type DeadlineTask } from '../webservice';
import type { BridgeConfig } from './config';
import { allPlaced, OutputVerificationError, placeStaged, stagingDirOf, verifyStaged } from './placement';
import { chooseOffload, farmReport, jobDeadline } from './selection';
import { BridgeStateStore, taskKey, type TaskRecord } from './state';

/** Options of `DeadlineBridge.start`. */
export interface DeadlineBridgeOptions {
  readonly logger?: Logger;
  /** Stops the bridge. */
  readonly abortSignal?: AbortSignal;
  /** Start the poll loop (tests may drive `runCycle` themselves). @default true */
  readonly loop?: boolean;
}

/** Running totals, for logs and demos. */
export interface BridgeCounters {
  /** Tasks suspended and submitted to the cloud. */
  offloaded: number;
  /** Tasks completed from cloud outputs. */
  completed: number;
  /** Tasks whose cloud frames were recalled and resumed locally. */
  recalled: number;
  /** Tasks resumed locally because their cloud frame failed. */
  failedBack: number;
}

/** A job's synced inputs: the manifest, and the directory (as the job names it) it holds. */
interface JobAssets {
  readonly manifestId: string;
  readonly root: string;
}

/** The extra-info key listing more input files of a job, `;` separated. */
export const ASSETS_EXTRA_INFO_KEY = 'SpillwayAssets';

/** The scene file a job's plugin reads, when it is one file (not an `.ass` sequence). */
function sceneOf(job: DeadlineJob): string | undefined {
  const scene = sceneFileOf(job.plugin, job.pluginInfo);
  return scene && !scene.includes('#') ? scene : undefined;
}

/** Where a cloud task's command writes its outputs, relative to its working directory. */
const CLOUD_OUTPUT_DIR = 'out';

/** How a job runs in the cloud, or why it cannot. */
type JobRoute =
  { readonly ok: true; readonly outputDir: string } | { readonly ok: false; readonly reason: string };

/** The bridge. */
export class DeadlineBridge {
  private readonly deadline: DeadlineClient;
  private readonly burst: BurstClient;
  private readonly state: BridgeStateStore;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly firstSeen = new Map<string, Date>();
  private readonly jobs = new Map<string, DeadlineJob>();
  private readonly loggedLocal = new Set<string>();
  /** Per job, its scene synced into a manifest (once per job and run; content is never sent twice). */
  private readonly synced = new Map<string, Promise<JobAssets | undefined>>();
  private lock: Promise<unknown> = Promise.resolve();
  private loopDone: Promise<void> = Promise.resolve();
  private watchDone: Promise<void> = Promise.resolve();
  /** The `source` of every frame: `deadline:<name>`. */
  readonly source: string;
  /** Running totals since start. */
  readonly counters: BridgeCounters = { offloaded: 0, completed: 0, recalled: 0, failedBack: 0 };
  /** The last plan the service answered. */
  lastPlan: BurstPlan | undefined;

  private constructor(
    /** The configuration it runs with. */
    readonly config: BridgeConfig,
    options: DeadlineBridgeOptions,
  ) {
    this.log = options.logger ?? silentLogger;
    this.source = `deadline:${config.name}`;
    const password = config.passwordFile ? readSecretFile(config.passwordFile, 'passwordFile') : undefined;
    const ca = config.caFile ? fs.readFileSync(config.caFile) : undefined;
    this.deadline = new DeadlineClient(config.webservice, {
      ...(config.user !== undefined ? { user: config.user } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(ca ? { ca } : {}),
    });
    const token = config.tokenFile ? readSecretFile(config.tokenFile, 'tokenFile') : undefined;
    this.burst = new BurstClient(config.service, token ? { token } : {});
    this.state = new BridgeStateStore(path.join(config.stateDir, `deadline-${config.name}.json`));
    options.abortSignal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Starts the bridge: reconcile, then the frame watch and the poll loop. */
  static async start(config: BridgeConfig, options: DeadlineBridgeOptions = {}): Promise<DeadlineBridge> {
    const bridge = new DeadlineBridge(config, options);
    try {
      await bridge.exclusive(() => bridge.reconcile());
    } catch (err) {
      await bridge.close();
      throw err;
    }
    bridge.watchDone = bridge.watch();
    if (options.loop ?? true) bridge.loopDone = bridge.loop();
    return bridge;
  }

  /** The Deadline client the bridge uses. */
  get deadlineClient(): DeadlineClient {
    return this.deadline;
  }

  /** Stops the loop and the watch, and closes the clients. */
  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    await Promise.allSettled([this.loopDone, this.watchDone, this.lock]);
    this.burst.close();
    this.deadline.close();
  }

  /** One poll: read the farm, report it, act on the plan. */
  runCycle(): Promise<void> {
    return this.exclusive(() => this.cycle());
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private get signal(): AbortSignal {
    return this.abort.signal;
  }

  private async loop(): Promise<void> {
    while (!this.signal.aborted) {
      try {
        await this.runCycle();
      } catch (err) {
        if (!this.signal.aborted)
          this.log.warn('cycle failed; retrying next interval', { error: (err as Error).message });
      }
      await sleep(this.config.pollIntervalMs, this.signal);
    }
  }

  private async watch(): Promise<void> {
    while (!this.signal.aborted) {
      try {
        for await (const ev of this.burst.watchFrames({
          source: this.source,
          afterCursor: this.state.current.cursor,
          abortSignal: this.signal,
          onReconnect: (cursor) => this.log.info('frame watch reconnected', { cursor }),
        })) {
          await this.exclusive(async () => {
            if (TERMINAL_FRAME_STATES.has(ev.state)) {
              const taskId = Number(ev.key.sourceTaskId);
              await this.settle(
                ev.key.sourceJobId,
                taskId,
                ev.state,
                ev.frameId,
                ev.message ?? '',
                ev.outputs,
              );
            }
            this.state.update((s) => (s.cursor = ev.cursor));
          });
        }
      } catch (err) {
        if (this.signal.aborted) return;
        this.log.warn('frame watch failed; restarting it', { error: (err as Error).message });
        await sleep(2000, this.signal);
      }
    }
  }

  // ---------------------------------------------------------------- the cycle

  private route(job: DeadlineJob): JobRoute {
    const probe = buildCommand({ plugin: job.plugin, pluginInfo: job.pluginInfo, frameStart: 1 });
    if (!probe.supported) return { ok: false, reason: probe.reason };
    let dir = job.outputDirectories[0];
    if (!dir && job.plugin.toLowerCase() === 'blender') {
      const file = job.pluginInfo.OutputFile;
      if (file) dir = path.posix.dirname(file.replace(/\\/g, '/'));
    }
    if (!dir) return { ok: false, reason: 'the job names no output directory' };
    return { ok: true, outputDir: mapPath(dir, this.config.pathRules) };
  }

  private deadlineOf(job: DeadlineJob): Date {
    if (!this.firstSeen.has(job.id)) this.firstSeen.set(job.id, new Date());
    return jobDeadline(
      job,
      this.config.turnaroundSeconds,
      this.firstSeen.get(job.id)!,
      this.config.deadlineKey,
    );
  }

  private records(filter: (r: TaskRecord) => boolean = () => true): TaskRecord[] {
    return Object.values(this.state.current.tasks).filter(filter);
  }

  private async cycle(): Promise<void> {
    const sig = { abortSignal: this.signal };
    const [jobs, workers, limits] = await Promise.all([
      this.deadline.listJobs(['active'], sig),
      this.deadline.listWorkers(sig),
      // Limit groups only refine the choice: a Web Service that cannot list them does not stop the bridge.
      this.deadline.listLimits(sig).catch((err: Error) => {
        this.log.debug('limit groups unavailable', { error: err.message });
        return [];
      }),
    ]);
    const tasks = new Map<string, DeadlineTask[]>();
    for (const job of jobs) {
      this.jobs.set(job.id, job);
      tasks.set(job.id, await this.deadline.listTasks(job.id, sig));
    }
    const offloaded = new Map<string, number>();
    for (const r of this.records((r) => r.phase === 'cloud' || r.phase === 'suspending'))
      offloaded.set(r.jobId, (offloaded.get(r.jobId) ?? 0) + 1);
    const report = farmReport({
      source: this.source,
      now: new Date(),
      jobs,
      tasks,
      workers,
      offloaded,
      burstable: (j) => {
        const r = this.route(j);
        if (!r.ok && !this.loggedLocal.has(j.id)) {
          this.loggedLocal.add(j.id);
          this.log.info('job stays on the local farm', {
            job: j.id,
            name: j.name,
            plugin: j.plugin,
            reason: r.reason,
          });
        }
        return r.ok;
      },
      deadline: (j) => this.deadlineOf(j),
      ...(this.config.capacityGroup ? { capacityGroup: this.config.capacityGroup } : {}),
    });
    const plan = await this.burst.reportFarmState({ ...report, sourceKind: 'deadline' }, sig);
    this.lastPlan = plan;
    if (plan.offload.length || plan.recall.length)
      this.log.debug('plan', { offload: plan.offload, recall: plan.recall, reasons: plan.reasons });

    // Tasks kept local for good are forgotten once their job has left the active list.
    const activeIds = new Set(jobs.map((j) => j.id));
    const stale = this.records((r) => r.phase === 'local' && !activeIds.has(r.jobId));
    if (stale.length)
      this.state.update((s) => {
        for (const r of stale) delete s.tasks[taskKey(r.jobId, r.taskId)];
      });

    const exclude = new Set(Object.keys(this.state.current.tasks));
    const wanted = new Map(plan.offload.map((o) => [o.sourceJobId, o.frameCount]));
    const chosen = chooseOffload({
      jobs: jobs.filter((j) => this.route(j).ok),
      tasks,
      workers,
      limits,
      wanted,
      exclude,
    });
    for (const [jobId, ids] of chosen) {
      const capacityGroup = plan.offload.find((o) => o.sourceJobId === jobId)?.capacityGroup;
      await this.offload(this.jobs.get(jobId)!, ids, tasks.get(jobId) ?? [], capacityGroup);
    }
    for (const r of plan.recall) await this.recall(r.sourceJobId, r.frameCount);
  }

  private async offload(
    job: DeadlineJob,
    ids: number[],
    tasks: readonly DeadlineTask[],
    capacityGroup?: string,
  ): Promise<void> {
    const route = this.route(job);
    if (!route.ok || ids.length === 0) return;
    const sig = { abortSignal: this.signal };
    // Assets first: a job whose scene cannot be synced is not touched (no task suspended).
    let assets: JobAssets | undefined;
    try {
      assets = await this.assetsOf(job);
    } catch (err) {
      this.synced.delete(job.id);
      this.log.warn('asset sync failed; the job stays on the local farm this cycle', {
        job: job.id,
        error: (err as Error).message,
      });
      return;
    }
    // Write-ahead: a restarted bridge must know these suspensions are its own.
    this.state.update((s) => {
      for (const id of ids) s.tasks[taskKey(job.id, id)] = { jobId: job.id, taskId: id, phase: 'suspending' };
    });
    await this.deadline.taskCommand('suspend', job.id, ids, sig);
    const now = await this.deadline.listTasks(job.id, sig);
    const suspended = now.filter((t) => ids.includes(t.taskId) && t.state === 'suspended');
    const lost = ids.filter((id) => !suspended.some((t) => t.taskId === id));
    if (lost.length)
      this.state.update((s) => {
        for (const id of lost) delete s.tasks[taskKey(job.id, id)];
      });
    if (suspended.length === 0) return;

    const frames: FrameSpec[] = [];
    const records: TaskRecord[] = [];
    for (const t of suspended) {
      const [a, b] = parseTaskFrames(t.frames || tasks.find((x) => x.taskId === t.taskId)?.frames || '');
      const staging = stagingDirOf(route.outputDir, job.id, t.taskId);
      const built = this.cloudCommand(job, a, b, assets?.root);
      if (!built.supported) continue;
      const command = this.config.commandWrapper
        ? `${this.config.commandWrapper} /bin/sh -c ${shq(built.command)}`
        : built.command;
      frames.push({
        sourceTaskId: String(t.taskId),
        frameStart: a,
        frameEnd: b,
        command,
        environment: {
          ...job.environment,
          DEADLINE_JOB_ID: job.id,
          DEADLINE_TASK_ID: String(t.taskId),
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
        ...(built.redirectsOutput
          ? { staging, expectFrameNumbers: job.plugin.toLowerCase() === 'blender' }
          : {}),
      });
    }
    const spec: JobSpec = {
      source: this.source,
      sourceKind: 'deadline',
      sourceJobId: job.id,
      name: job.name,
      commandTemplate: '',
      outputDestination: route.outputDir,
      maxRetries: this.config.cloudRetries,
      ...(assets ? { assetManifestId: assets.manifestId } : {}),
      priority: Math.max(0, Math.min(100, Math.round(job.priority))),
      deadline: this.deadlineOf(job),
      ...(capacityGroup
        ? { capacityGroup }
        : this.config.capacityGroup
          ? { capacityGroup: this.config.capacityGroup }
          : {}),
      ...(this.config.frameTimeoutMs ? { frameTimeoutMs: this.config.frameTimeoutMs } : {}),
    };
    let submitted: { frameId: string; sourceTaskId: string }[];
    try {
      const res = await this.burst.submitFrames(spec, frames, sig);
      submitted = res.frames.map((f) => ({ frameId: f.frameId, sourceTaskId: f.key.sourceTaskId }));
    } catch (err) {
      // No task may stay suspended without a cloud frame: give them back to the farm.
      const back = suspended.map((t) => t.taskId);
      this.log.warn('submission failed; resuming the tasks locally', {
        job: job.id,
        tasks: back,
        error: (err as Error).message,
      });
      await this.deadline.taskCommand('resume', job.id, back, sig);
      this.state.update((s) => {
        for (const id of back) delete s.tasks[taskKey(job.id, id)];
      });
      return;
    }
    this.state.update((s) => {
      for (const r of records) {
        const f = submitted.find((x) => x.sourceTaskId === String(r.taskId));
        s.tasks[taskKey(job.id, r.taskId)] = { ...r, ...(f ? { frameId: f.frameId } : {}) };
      }
    });
    this.counters.offloaded += records.length;
    this.log.info('offloaded', {
      job: job.id,
      name: job.name,
      tasks: records.map((r) => r.taskId),
      capacityGroup: spec.capacityGroup ?? '(default)',
    });
  }

  private async recall(jobId: string, count: number): Promise<void> {
    const keys = this.records((r) => r.jobId === jobId && r.phase === 'cloud').map((r) => ({
      source: this.source,
      sourceJobId: jobId,
      sourceTaskId: String(r.taskId),
    }));
    if (keys.length === 0 || count <= 0) return;
    // A short deadline: the cycle holds the lock the frame watch needs.
    const res = await this.burst.recallFrames(
      { keys, maxFrames: count, reason: 'local workers are idle' },
      { abortSignal: this.signal, timeoutMs: 10_000 },
    );
    for (const k of res.recalled)
      await this.settle(jobId, Number(k.sourceTaskId), 'recalled', '', 'local workers are idle');
  }

  // ---------------------------------------------------------------- settling

  /**
   * Brings a task in line with its cloud frame's final state. Idempotent: settling twice (an
   * event after a reconcile, a recall answer and its event) changes nothing the second time.
   */
  private async settle(
    jobId: string,
    taskId: number,
    state: FrameState,
    frameId: string,
    message: string,
    outputs: readonly OutputFile[] = [],
  ): Promise<void> {
    const rec = this.state.task(jobId, taskId);
    if (!rec || rec.phase === 'local') return;
    const sig = { abortSignal: this.signal };
    if (state === 'succeeded') {
      try {
        if (rec.staging && rec.outputDir) {
          let files = rec.placed;
          if (!files) {
            // The frame's outputs come back from Blob Storage through the service, each
            // checked against the size and SHA-256 its node recorded, into the staging
            // directory (a fetch interrupted by a crash resumes or starts again).
            await this.fetchOutputs(frameId, outputs, rec.staging);
            // Verified once, recorded, then moved: a rerun after a crash finishes the moves.
            const list = verifyStaged(
              rec.staging,
              rec.frameStart ?? 0,
              rec.frameEnd ?? 0,
              rec.expectFrameNumbers ?? false,
            );
            this.state.update((s) =>
              Object.assign(s.tasks[taskKey(jobId, taskId)]!, { phase: 'placing', placed: list }),
            );
            files = list;
          }
          if (!allPlaced(rec.outputDir, files) || fs.existsSync(rec.staging))
            placeStaged(rec.staging, rec.outputDir, files);
          if (!allPlaced(rec.outputDir, files))
            throw new OutputVerificationError(`outputs of task ${taskId} are not all in ${rec.outputDir}`);
        }
      } catch (err) {
        if (
          !(err instanceof OutputVerificationError) &&
          !(err instanceof storage.IntegrityError) &&
          !(err instanceof storage.PathEscapeError)
        )
          throw err;
        await this.backToFarm(
          rec,
          `cloud frame succeeded but its outputs failed verification: ${err.message}`,
        );
        this.counters.failedBack += 1;
        return;
      }
      await this.deadline.taskCommand('complete', jobId, [taskId], sig);
      this.state.update((s) => delete s.tasks[taskKey(jobId, taskId)]);
      this.counters.completed += 1;
      const placed = rec.placed?.length ?? 0;
      this.log.info('completed', { job: jobId, task: taskId, frame: frameId, outputs: placed });
      return;
    }
    const why =
      state === 'recalled'
        ? `recalled: ${message || 'local workers are idle'}`
        : `cloud frame ${state}: ${message || 'no message'}`;
    await this.backToFarm(rec, why);
    if (state === 'recalled') {
      this.counters.recalled += 1;
      this.log.info('recalled', { job: jobId, task: taskId, reason: message || 'local workers are idle' });
    } else {
      this.counters.failedBack += 1;
      this.log.warn('cloud frame failed; task resumed on the local farm', {
        job: jobId,
        task: taskId,
        frame: frameId,
        reason: message || state,
      });
    }
  }

  private async backToFarm(rec: TaskRecord, reason: string): Promise<void> {
    if (rec.staging) fs.rmSync(rec.staging, { recursive: true, force: true });
    this.state.update((s) =>
      Object.assign(s.tasks[taskKey(rec.jobId, rec.taskId)]!, {
        phase: 'local',
        reason,
        placed: undefined,
        staging: undefined,
      }),
    );
    const tasks = await this.deadline.listTasks(rec.jobId, { abortSignal: this.signal });
    if (tasks.find((t) => t.taskId === rec.taskId)?.state === 'suspended')
      await this.deadline.taskCommand('resume', rec.jobId, [rec.taskId], { abortSignal: this.signal });
  }

  // ---------------------------------------------------------------- reconcile

  /**
   * After a restart: every task suspended in Deadline either has a cloud frame behind it (and
   * is settled if that frame finished) or is resumed when the bridge had suspended it; tasks
   * the bridge did not suspend (a user's) are left alone; no frame is submitted again.
   */
  private async reconcile(): Promise<void> {
    const sig = { abortSignal: this.signal };
    const active = await this.deadline.listJobs(['active'], sig);
    const ids = new Set([...active.map((j) => j.id), ...this.records().map((r) => r.jobId)]);
    let settled = 0;
    for (const jobId of ids) {
      let tasks: DeadlineTask[];
      try {
        tasks = await this.deadline.listTasks(jobId, sig);
      } catch (err) {
        this.log.warn('job is gone from Deadline; forgetting its tasks', {
          job: jobId,
          error: (err as Error).message,
        });
        this.state.update((s) => {
          for (const k of Object.keys(s.tasks)) if (s.tasks[k]!.jobId === jobId) delete s.tasks[k];
        });
        continue;
      }
      const frames = await this.framesOf(jobId);
      const job = active.find((j) => j.id === jobId);
      if (job) this.jobs.set(jobId, job);
      for (const t of tasks) {
        const rec = this.state.task(jobId, t.taskId);
        const f = frames.get(String(t.taskId));
        if (t.state === 'completed') {
          if (rec && rec.phase !== 'local')
            this.state.update((s) => delete s.tasks[taskKey(jobId, t.taskId)]);
          continue;
        }
        if (t.state !== 'suspended') {
          if (rec?.phase === 'suspending') this.state.update((s) => delete s.tasks[taskKey(jobId, t.taskId)]);
          continue;
        }
        if (f) {
          if (!rec || rec.phase === 'suspending') this.adopt(jobId, t, f, job);
          if (TERMINAL_FRAME_STATES.has(f.state)) {
            await this.settle(jobId, t.taskId, f.state, f.frameId, f.message ?? '', f.outputs);
            settled += 1;
          }
        } else if (rec && rec.phase !== 'local') {
          this.log.info('task suspended without a cloud frame; resuming it locally', {
            job: jobId,
            task: t.taskId,
          });
          await this.deadline.taskCommand('resume', jobId, [t.taskId], sig);
          this.state.update((s) => delete s.tasks[taskKey(jobId, t.taskId)]);
        } else if (rec?.phase === 'local') {
          await this.deadline.taskCommand('resume', jobId, [t.taskId], sig);
        }
      }
    }
    this.log.info('reconciled', {
      jobs: ids.size,
      inCloud: this.records((r) => r.phase === 'cloud').length,
      settled,
    });
  }

  /**
   * A task's command as a cloud node runs it: outputs go to `out/` in the task's working
   * directory, which the service uploads to Blob Storage when the task succeeds.
   */
  private cloudCommand(
    job: DeadlineJob,
    frameStart: number,
    frameEnd: number,
    assetRoot?: string,
  ): ReturnType<typeof buildCommand> {
    return buildCommand({
      ...(assetRoot !== undefined ? { assetRoot } : {}),
      plugin: job.plugin,
      pluginInfo: job.pluginInfo,
      frameStart,
      frameEnd,
      pathRules: this.config.pathRules,
      outputDirectory: CLOUD_OUTPUT_DIR,
      executables: this.config.executables,
    });
  }

  /**
   * Syncs the job's scene (and the files its `SpillwayAssets` extra-info key lists, `;`
   * separated, below the scene's directory) into Blob Storage through the service's
   * AssetService: hashed here, only content the store lacks is sent, and the manifest's id
   * goes with the frames, so job preparation places the files on each node. Jobs without a
   * single scene file (CommandLine, Arnold `.ass` sequences) are not synced.
   */
  private assetsOf(job: DeadlineJob): Promise<JobAssets | undefined> {
    let pending = this.synced.get(job.id);
    if (!pending) {
      pending = this.syncAssets(job);
      this.synced.set(job.id, pending);
    }
    return pending;
  }

  private async syncAssets(job: DeadlineJob): Promise<JobAssets | undefined> {
    const scene = sceneOf(job);
    if (!scene) return undefined;
    const sep = Math.max(scene.lastIndexOf('/'), scene.lastIndexOf('\\'));
    if (sep < 0) return undefined; // no directory: nothing to sync it from
    const root = scene.slice(0, sep + 1); // with its separator: `Z:\` maps as a drive root
    const localRoot = mapPath(root, this.config.pathRules);
    const below = (p: string): string => {
      const rel = pathBelow(p, root);
      if (rel === undefined) {
        throw new storage.PathEscapeError(
          ASSETS_EXTRA_INFO_KEY,
          p,
          `must be below the scene's directory ${root}`,
        );
      }
      return rel;
    };
    const extra = (job.extraInfo[ASSETS_EXTRA_INFO_KEY] ?? '')
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const files = [below(scene), ...extra.map(below)];
    if (job.plugin.toLowerCase() === 'blender')
      files.push(...(await this.blendReferences(job, mapPath(scene, this.config.pathRules), localRoot)));
    const local = new Map<string, string>();
    const built = await storage.buildManifest(localRoot, {
      files,
      hashCacheFile: false,
      abortSignal: this.signal,
      onEntry: (e, localPath) => local.set(e.sha256, localPath),
    });
    const sig = { abortSignal: this.signal };
    const plan = await this.burst.assets.planAssetSync(built.manifest.files, sig);
    // Hashed once, by the manifest: the upload takes the hash instead of reading the file twice.
    for (const sha of plan.missingSha256)
      await this.burst.assets.uploadContent(local.get(sha)!, { ...sig, sha256: sha });
    const committed = await this.burst.assets.commitManifest(built.manifest.files, {
      ...sig,
      name: job.name,
    });
    this.log.info('synced assets', {
      job: job.id,
      manifest: committed.manifestId,
      files: committed.fileCount,
      bytes: committed.totalBytes,
      sent: plan.missingBytes,
    });
    return { manifestId: committed.manifestId, root };
  }

  /**
   * What a Blender scene references (textures, libraries, caches), asked of Blender on this
   * host: the files below the scene's directory, relative to it. Files elsewhere, missing
   * files, or no Blender here are logged; the frames render without them.
   */
  private async blendReferences(job: DeadlineJob, localScene: string, localRoot: string): Promise<string[]> {
    let deps: storage.BlendDependencies;
    try {
      deps = await storage.blendDependencies(localScene, {
        ...(this.config.executables?.blender ? { blender: this.config.executables.blender } : {}),
        abortSignal: this.signal,
      });
    } catch (err) {
      this.log.warn("could not list the scene's references; syncing the scene alone", {
        job: job.id,
        error: (err as Error).message,
      });
      return [];
    }
    const { inside, outside } = storage.pathsBelow(localRoot, deps.files);
    if (outside.length > 0 || deps.missing.length > 0)
      this.log.warn('scene references not synced', {
        job: job.id,
        outsideSceneDir: outside,
        missing: deps.missing,
      });
    return inside;
  }

  /** Fetches a succeeded frame's outputs (paths relative to its `out/`) into `dir`. */
  private async fetchOutputs(frameId: string, outputs: readonly OutputFile[], dir: string): Promise<void> {
    for (const o of outputs) {
      const dest = storage.resolveInside(dir, o.path, 'output path');
      await this.burst.assets.fetchOutput(frameId, o.path, dest, { abortSignal: this.signal });
    }
  }

  /** A suspended task with a cloud frame the state did not record (crash after submit). */
  private adopt(jobId: string, t: DeadlineTask, f: Frame, job: DeadlineJob | undefined): void {
    const route = job ? this.route(job) : undefined;
    const outputDir = route?.ok ? route.outputDir : undefined;
    const built =
      job && outputDir ? this.cloudCommand(job, f.frameStart, f.frameEnd ?? f.frameStart) : undefined;
    const staging =
      outputDir && built?.supported && built.redirectsOutput
        ? stagingDirOf(outputDir, jobId, t.taskId)
        : undefined;
    this.state.update((s) => {
      s.tasks[taskKey(jobId, t.taskId)] = {
        jobId,
        taskId: t.taskId,
        phase: 'cloud',
        frameId: f.frameId,
        frameStart: f.frameStart,
        frameEnd: f.frameEnd,
        ...(outputDir ? { outputDir } : {}),
        ...(staging ? { staging, expectFrameNumbers: job!.plugin.toLowerCase() === 'blender' } : {}),
      };
    });
  }

  private async framesOf(jobId: string): Promise<Map<string, Frame>> {
    const out = new Map<string, Frame>();
    let serviceJobId: string;
    try {
      serviceJobId = (
        await this.burst.getJob({ source: this.source, sourceJobId: jobId }, { abortSignal: this.signal })
      ).jobId;
    } catch (err) {
      if (err instanceof BurstServiceError && err.code === 'NOT_FOUND') return out;
      throw err;
    }
    for await (const f of this.burst.listFrames(serviceJobId, { abortSignal: this.signal }))
      out.set(f.key.sourceTaskId, f);
    return out;
  }
}

/** `1-4` or `7` to [start, end]. */
export function parseTaskFrames(frames: string): [number, number] {
  const m = /^\s*(-?\d+)(?:\s*-\s*(-?\d+))?/.exec(frames);
  if (!m) throw new Error(`task frames "${frames}" are not N or N-M`);
  const a = Number(m[1]);
  return [a, m[2] === undefined ? a : Number(m[2])];
}
