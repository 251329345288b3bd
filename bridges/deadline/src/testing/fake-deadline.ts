/**
 * A fake Deadline 10 Web Service on `127.0.0.1:0`, faithful to the documented API where
 * Spillway uses it: `GET/POST /api/jobs`, `GET/PUT /api/tasks` (an empty or missing
 * TaskList really applies the command to every task, as Deadline does), `GET
 * /api/slaves?Data=info`, pools, groups, limit groups; Basic auth (401); 400 for a missing
 * command or job id, 500 for an unknown job, 501 for unsupported verbs. Simulated workers
 * really run each task's command (built from the plugin as Deadline's plugins do) as child
 * processes, respecting groups, pools, limits and priority, and only ever pick Queued tasks.
 *
 * Workers may also run in other processes (`DeadlineTestingWorker`, started by a scale-set
 * instance's `deadlineworker`): they register and take tasks through the testing routes
 * under `/spillway-testing/workers` (what a real Worker does through the repository), and
 * are managed through the documented worker routes: settings (`GET /api/slaves?Data=settings`,
 * `PUT /api/slaves` `savesettings` with `Enable`), groups and pools (`PUT /api/groups`,
 * `PUT /api/pools`), `DELETE /api/slaves?Name=`. A remote worker silent for
 * `stallTimeoutMs` is Stalled and its task requeued, as Deadline's housekeeping does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sleep } from '@spillway/sdk';
import { chunkFrames, parseFrameRange } from '@spillway/sdk';
import { RENDER_NICENESS, shellCommand } from '@spillway/sdk/compute';
import { buildCommand, type PathRule } from '../commands';
import {
  JOB_STATE_CODES,
  TASK_STATE_CODES,
  WORKER_STATE_CODES,
  type DeadlineTaskState,
} from '../webservice/types';

/** A simulated worker. */
export interface FakeWorkerSpec {
  readonly name: string;
  /** Groups it renders besides `none`. @default [] */
  readonly groups?: readonly string[];
  /** @default [] */
  readonly pools?: readonly string[];
}

/** Options of `FakeDeadline.start`. */
export interface FakeDeadlineOptions {
  /** Basic auth user the service requires. @default none (no auth) */
  readonly user?: string;
  /** @default '' */
  readonly password?: string;
  /** @default two workers, `worker-1` and `worker-2`, no groups or pools */
  readonly workers?: readonly FakeWorkerSpec[];
  /** Limit groups: name to maximum concurrent tasks. @default none */
  readonly limits?: Readonly<Record<string, number>>;
  /** How often idle workers look for work. @default 100 */
  readonly pollIntervalMs?: number;
  /** Task errors before a task is Failed (Deadline's task failure limit). @default 3 */
  readonly taskFailureLimit?: number;
  /** Executables the workers' plugins run. @default blender, kick, vray, Render */
  readonly executables?: Readonly<{ blender?: string; kick?: string; vray?: string; maya?: string }>;
  /** Path mapping the workers apply. @default none */
  readonly pathRules?: readonly PathRule[];
  /** Start the workers at once. @default true */
  readonly startWorkers?: boolean;
  /**
   * A worker in another process that has not been heard from for this long is Stalled and
   * its task requeued (Deadline's stalled-worker detection; minutes on a real farm).
   * @default 600000
   */
  readonly stallTimeoutMs?: number;
}

/** One render a simulated worker ran. */
export interface RenderRecord {
  readonly jobId: string;
  readonly taskId: number;
  readonly worker: string;
  readonly command: string;
  /** Null when killed (suspended, requeued or completed while rendering). */
  readonly exitCode: number | null;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}

/** One task command the service received. */
export interface TaskCommandRecord {
  readonly command: string;
  readonly jobId: string;
  /** As sent; undefined when missing. */
  readonly taskList: unknown;
  /** Task ids it was applied to. */
  readonly applied: readonly number[];
}

interface Task {
  taskId: number;
  frames: string;
  stat: number;
  slave: string;
  errs: number;
  start: string;
  comp: string;
}

interface Job {
  raw: Record<string, unknown> & { _id: string; Props: Record<string, unknown> };
  tasks: Task[];
}

interface Worker {
  spec: FakeWorkerSpec;
  stat: number;
  jobId: string;
  taskId: number;
  child?: ChildProcess;
  enabled: boolean;
  /** A worker in another process (registered through the testing routes). */
  remote?: { lastSeen: number; startedAt: Date; command: string };
}

/** A task a remote worker takes: what its command line is, with which environment. */
export interface RemoteTask {
  readonly jobId: string;
  readonly taskId: number;
  readonly frames: string;
  readonly command: string;
  readonly environment: Readonly<Record<string, string>>;
}

const NULL_DATE = '0001-01-01T00:00:00Z';

/** The fake Web Service and its farm. */
export class FakeDeadline {
  private readonly server: http.Server;
  private readonly jobs = new Map<string, Job>();
  private readonly workers: Worker[];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;
  /** Every render the workers ran, in finishing order. */
  readonly renders: RenderRecord[] = [];
  /** Every task command received, in order. */
  readonly taskCommands: TaskCommandRecord[] = [];
  /** Tasks requeued because their worker stalled (stopped answering). */
  stallRequeues = 0;
  /** Limit groups: name to maximum concurrent tasks, as `PUT /api/limitgroups` leaves them. */
  readonly limits: Map<string, number>;
  /** Every `PUT /api/limitgroups` `set` received, in order. */
  readonly limitChanges: { readonly name: string; readonly limit: number }[] = [];
  /** `http://127.0.0.1:PORT`. */
  url = '';

  private constructor(private readonly options: FakeDeadlineOptions) {
    this.limits = new Map(Object.entries(options.limits ?? {}));
    const specs = options.workers ?? [{ name: 'worker-1' }, { name: 'worker-2' }];
    this.workers = specs.map((spec) => ({
      spec,
      stat: WORKER_STATE_CODES.idle,
      jobId: '',
      taskId: -1,
      enabled: true,
    }));
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  /** Starts the service (and its workers unless `startWorkers` is false). */
  static async start(options: FakeDeadlineOptions = {}): Promise<FakeDeadline> {
    const fake = new FakeDeadline(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    if (options.startWorkers ?? true) fake.startWorkers();
    return fake;
  }

  /** Starts the workers' dispatch loop. */
  startWorkers(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.dispatch(), this.options.pollIntervalMs ?? 100);
  }

  /** The workers as the farm sees them: name, state code, whether enabled, groups, pools, remote. */
  workerList(): {
    name: string;
    state: number;
    enabled: boolean;
    groups: string[];
    pools: string[];
    remote: boolean;
  }[] {
    return this.workers.map((w) => ({
      name: w.spec.name,
      state: w.stat,
      enabled: w.enabled,
      groups: [...(w.spec.groups ?? [])],
      pools: [...(w.spec.pools ?? [])],
      remote: w.remote !== undefined,
    }));
  }

  /** Stops dispatching new tasks (running ones finish). */
  stopWorkers(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Submits a job as `POST /api/jobs` does, from Deadline job info keys (`Plugin`, `Name`,
   * `Frames`, `ChunkSize`, `Group`, `Pool`, `Priority`, `LimitGroups`, `OutputDirectory0`,
   * `OutputFilename0`, `ExtraInfoKeyValue0=key=value`, `EnvironmentKeyValue0=K=V`, `InitialStatus`)
   * and plugin info. Returns the job id.
   */
  submitJob(
    jobInfo: Readonly<Record<string, string | number>>,
    pluginInfo: Readonly<Record<string, string | number>>,
  ): string {
    const get = (k: string): string | undefined => {
      const hit = Object.keys(jobInfo).find((x) => x.toLowerCase() === k.toLowerCase());
      return hit === undefined ? undefined : String(jobInfo[hit]);
    };
    const plugin = get('Plugin');
    if (!plugin) throw new FakeDeadlineError(400, 'JobInfo has no Plugin');
    const frames = get('Frames') ?? '0';
    const chunk = Math.max(1, Number(get('ChunkSize') ?? 1) || 1);
    const runs = parseFrameRange(frames, 'JobInfo.Frames');
    const indexed = (prefix: string): string[] => {
      const out: string[] = [];
      for (let i = 0; get(`${prefix}${i}`) !== undefined; i++) out.push(get(`${prefix}${i}`)!);
      return out;
    };
    const pairs = (prefix: string): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const kv of indexed(prefix)) {
        const at = kv.indexOf('=');
        if (at > 0) out[kv.slice(0, at)] = kv.slice(at + 1);
      }
      return out;
    };
    const id = `${Date.now().toString(16)}${(this.nextId++).toString(16).padStart(8, '0')}`.padEnd(24, '0');
    const suspended = (get('InitialStatus') ?? '').toLowerCase() === 'suspended';
    const tasks: Task[] = chunkFrames(runs, chunk).map((c, i) => ({
      taskId: i,
      frames: `${c.start}-${c.end}`,
      stat: suspended ? TASK_STATE_CODES.suspended : TASK_STATE_CODES.queued,
      slave: '',
      errs: 0,
      start: NULL_DATE,
      comp: NULL_DATE,
    }));
    const info: Record<string, string> = {};
    for (const [k, v] of Object.entries(pluginInfo)) info[k] = String(v);
    this.jobs.set(id, {
      raw: {
        _id: id,
        Stat: suspended ? JOB_STATE_CODES.suspended : JOB_STATE_CODES.active,
        Plug: plugin,
        Date: new Date().toISOString(),
        DateStart: NULL_DATE,
        DateComp: NULL_DATE,
        OutDir: indexed('OutputDirectory'),
        OutFile: indexed('OutputFilename'),
        Props: {
          Name: get('Name') ?? 'Untitled',
          Frames: frames,
          Chunk: chunk,
          Grp: get('Group') ?? 'none',
          Pool: get('Pool') ?? 'none',
          Pri: Number(get('Priority') ?? 50),
          Limits: (get('LimitGroups') ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          PlugInfo: info,
          Env: pairs('EnvironmentKeyValue'),
          ExDic: pairs('ExtraInfoKeyValue'),
          User: get('UserName') ?? 'spillway',
        },
      },
      tasks,
    });
    return id;
  }

  /** A job's tasks: id, state and the worker that last took it. */
  tasks(
    jobId: string,
  ): { taskId: number; frames: string; state: DeadlineTaskState; worker: string; errors: number }[] {
    const job = this.jobs.get(jobId);
    if (!job) throw new FakeDeadlineError(500, `job ${jobId} does not exist`);
    const names = Object.fromEntries(Object.entries(TASK_STATE_CODES).map(([k, v]) => [v, k])) as Record<
      number,
      DeadlineTaskState
    >;
    return job.tasks.map((t) => ({
      taskId: t.taskId,
      frames: t.frames,
      state: names[t.stat] ?? 'unknown',
      worker: t.slave,
      errors: t.errs,
    }));
  }

  /**
   * A job's progress for demos and tests: tasks by state, and how many finished on a local
   * worker (the rest of the completed ones were completed from outside, i.e. by the bridge).
   */
  summary(jobId: string): Record<DeadlineTaskState, number> & { completedLocally: number; total: number } {
    const counts = { queued: 0, suspended: 0, rendering: 0, completed: 0, failed: 0, pending: 0, unknown: 0 };
    const tasks = this.tasks(jobId);
    for (const t of tasks) counts[t.state] += 1;
    const local = new Set(
      this.renders.filter((r) => r.jobId === jobId && r.exitCode === 0).map((r) => r.taskId),
    );
    const completedLocally = tasks.filter((t) => t.state === 'completed' && local.has(t.taskId)).length;
    return { ...counts, completedLocally, total: tasks.length };
  }

  /** Takes a worker offline (it finishes nothing new) or back online. */
  setWorkerEnabled(name: string, enabled: boolean): void {
    const w = this.workers.find((x) => x.spec.name === name);
    if (!w) throw new Error(`no worker ${name}`);
    w.enabled = enabled;
    if (!enabled && w.stat === WORKER_STATE_CODES.idle) w.stat = WORKER_STATE_CODES.offline;
    if (enabled && w.stat === WORKER_STATE_CODES.offline) w.stat = WORKER_STATE_CODES.idle;
  }

  /** Resolves once `predicate` holds, polling; rejects after `timeoutMs`. */
  async waitFor(predicate: () => boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(50);
    }
  }

  /** Stops the workers (killing running renders) and the server. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWorkers();
    for (const w of this.workers) killGroup(w.child);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------- the farm

  private activeJobs(): Job[] {
    return [...this.jobs.values()]
      .filter((j) => j.raw.Stat === JOB_STATE_CODES.active)
      .sort(
        (a, b) =>
          Number(b.raw.Props.Pri) - Number(a.raw.Props.Pri) ||
          String(a.raw.Date).localeCompare(String(b.raw.Date)),
      );
  }

  /** The next task worker `w` may take, by priority then submission, or undefined. */
  private nextTask(w: Worker): { job: Job; task: Task } | undefined {
    if (!w.enabled || w.stat !== WORKER_STATE_CODES.idle) return undefined;
    for (const job of this.activeJobs()) {
      if (!this.eligible(w, job)) continue;
      const task = job.tasks.find((t) => t.stat === TASK_STATE_CODES.queued);
      if (task) return { job, task };
    }
    return undefined;
  }

  private dispatch(): void {
    this.detectStalls();
    for (const w of this.workers) {
      if (w.remote) continue; // remote workers take their tasks themselves
      const next = this.nextTask(w);
      if (next) this.run(w, next.job, next.task);
    }
  }

  /** Remote workers silent for the stall timeout: Stalled, and their task requeued. */
  private detectStalls(): void {
    const limit = this.options.stallTimeoutMs ?? 600_000;
    for (const w of this.workers) {
      if (!w.remote || w.stat === WORKER_STATE_CODES.offline || w.stat === WORKER_STATE_CODES.stalled)
        continue;
      if (Date.now() - w.remote.lastSeen < limit) continue;
      const running = this.taskOf(w);
      if (running) {
        running.task.stat = TASK_STATE_CODES.queued;
        running.task.slave = '';
        this.stallRequeues += 1;
        this.recordRemote(w, running.job, running.task, null);
      }
      this.release(w, WORKER_STATE_CODES.stalled);
    }
  }

  /** The task a worker is rendering, if it still is its own. */
  private taskOf(w: Worker): { job: Job; task: Task } | undefined {
    const job = this.jobs.get(w.jobId);
    const task = job?.tasks.find((t) => t.taskId === w.taskId);
    if (!job || !task || task.stat !== TASK_STATE_CODES.rendering || task.slave !== w.spec.name)
      return undefined;
    return { job, task };
  }

  private recordRemote(w: Worker, job: Job, task: Task, exitCode: number | null): void {
    this.renders.push({
      jobId: job.raw._id,
      taskId: task.taskId,
      worker: w.spec.name,
      command: w.remote?.command ?? '',
      exitCode,
      startedAt: w.remote?.startedAt ?? new Date(),
      finishedAt: new Date(),
    });
  }

  private commandOf(job: Job, task: Task): string {
    const [a, b] = task.frames.split('-').map(Number);
    const built = buildCommand({
      plugin: String(job.raw.Plug),
      pluginInfo: job.raw.Props.PlugInfo as Record<string, string>,
      frameStart: a!,
      frameEnd: b ?? a!,
      ...(this.options.executables ? { executables: this.options.executables } : {}),
      ...(this.options.pathRules ? { pathRules: this.options.pathRules } : {}),
    });
    return built.supported ? built.command : `echo ${JSON.stringify(built.reason)} >&2; exit 1`;
  }

  /** A task ends on a worker: Completed on exit 0, else an error (Failed at the limit). */
  private finish(job: Job, task: Task, code: number | null): void {
    if (code === 0) {
      task.stat = TASK_STATE_CODES.completed;
      task.comp = new Date().toISOString();
    } else {
      task.errs += 1;
      task.stat =
        task.errs >= (this.options.taskFailureLimit ?? 3) ? TASK_STATE_CODES.failed : TASK_STATE_CODES.queued;
    }
    this.updateJob(job);
  }

  // ---------------------------------------------------------------- remote workers

  private workerNamed(name: string): Worker | undefined {
    return this.workers.find((w) => w.spec.name.toLowerCase() === name.toLowerCase());
  }

  /** A worker starts: registered (or back online), keeping its settings. */
  private registerRemote(name: string, groups?: readonly string[], pools?: readonly string[]): Worker {
    let w = this.workerNamed(name);
    if (!w) {
      w = { spec: { name }, stat: WORKER_STATE_CODES.offline, jobId: '', taskId: -1, enabled: true };
      this.workers.push(w);
    }
    if (groups?.length) w.spec = { ...w.spec, groups: [...groups] };
    if (pools?.length) w.spec = { ...w.spec, pools: [...pools] };
    w.remote = { lastSeen: Date.now(), startedAt: new Date(), command: '' };
    this.release(w, WORKER_STATE_CODES.idle);
    return w;
  }

  /**
   * A remote worker's heartbeat: it says which task it renders. Answers `cancel` when that
   * task is no longer its own (requeued, suspended or completed from outside), and a new
   * task when it is idle and enabled.
   */
  private pollRemote(name: string, rendering: { jobId?: unknown; taskId?: unknown } | undefined): unknown {
    const w = this.workerNamed(name);
    if (!w?.remote) throw new FakeDeadlineError(404, `worker ${name} is not registered`);
    w.remote.lastSeen = Date.now();
    if (w.stat === WORKER_STATE_CODES.stalled) w.stat = WORKER_STATE_CODES.idle;
    if (rendering && rendering.jobId !== undefined) {
      const mine = this.taskOf(w);
      if (!mine || mine.job.raw._id !== rendering.jobId || mine.task.taskId !== Number(rendering.taskId)) {
        this.release(w);
        return { cancel: true };
      }
      return {};
    }
    if (w.stat === WORKER_STATE_CODES.rendering) {
      // It says it renders nothing: whatever it had is lost (a restarted worker).
      const lost = this.taskOf(w);
      if (lost) {
        lost.task.stat = TASK_STATE_CODES.queued;
        lost.task.slave = '';
        this.recordRemote(w, lost.job, lost.task, null);
      }
      w.stat = WORKER_STATE_CODES.idle;
    }
    if (!w.enabled && w.stat === WORKER_STATE_CODES.idle) w.stat = WORKER_STATE_CODES.offline;
    if (w.enabled && w.stat === WORKER_STATE_CODES.offline) w.stat = WORKER_STATE_CODES.idle;
    const next = this.nextTask(w);
    if (!next) return {};
    const { job, task } = next;
    const command = this.commandOf(job, task);
    this.assign(w, job, task);
    w.remote.startedAt = new Date();
    w.remote.command = command;
    const remote: RemoteTask = {
      jobId: job.raw._id,
      taskId: task.taskId,
      frames: task.frames,
      command,
      environment: job.raw.Props.Env as Record<string, string>,
    };
    return { task: remote };
  }

  /** A remote worker finished its task with an exit code. */
  private doneRemote(name: string, jobId: unknown, taskId: unknown, exitCode: unknown): void {
    const w = this.workerNamed(name);
    if (!w?.remote) throw new FakeDeadlineError(404, `worker ${name} is not registered`);
    w.remote.lastSeen = Date.now();
    const mine = this.taskOf(w);
    this.release(w);
    const code = typeof exitCode === 'number' ? exitCode : null;
    if (!mine || mine.job.raw._id !== jobId || mine.task.taskId !== Number(taskId)) {
      // Not its task any more (requeued or completed meanwhile): recorded, not applied.
      const job = this.jobs.get(String(jobId));
      const task = job?.tasks.find((t) => t.taskId === Number(taskId));
      if (job && task) this.recordRemote(w, job, task, code);
      return;
    }
    this.recordRemote(w, mine.job, mine.task, code);
    this.finish(mine.job, mine.task, code);
  }

  /** A remote worker shuts down: its task goes back to the queue at once; it is Offline. */
  private stopRemote(name: string): void {
    const w = this.workerNamed(name);
    if (!w?.remote) return;
    const mine = this.taskOf(w);
    if (mine) {
      mine.task.stat = TASK_STATE_CODES.queued;
      mine.task.slave = '';
      this.recordRemote(w, mine.job, mine.task, null);
      this.updateJob(mine.job);
    }
    this.release(w, WORKER_STATE_CODES.offline);
  }

  private eligible(w: Worker, job: Job): boolean {
    const grp = String(job.raw.Props.Grp ?? 'none');
    const pool = String(job.raw.Props.Pool ?? 'none');
    const groups = w.spec.groups ?? [];
    const pools = w.spec.pools ?? [];
    if (grp !== 'none' && !groups.includes(grp)) return false;
    if (pool !== 'none' && !pools.includes(pool)) return false;
    for (const limit of job.raw.Props.Limits as string[]) {
      const max = this.limits.get(limit);
      if (max !== undefined && this.inUse(limit) >= max) return false;
    }
    return true;
  }

  private inUse(limit: string): number {
    let n = 0;
    for (const w of this.workers) {
      const job = w.stat === WORKER_STATE_CODES.rendering ? this.jobs.get(w.jobId) : undefined;
      if (job && (job.raw.Props.Limits as string[]).includes(limit)) n += 1;
    }
    return n;
  }

  /** The task is the worker's now: both show it rendering. */
  private assign(w: Worker, job: Job, task: Task): void {
    task.stat = TASK_STATE_CODES.rendering;
    task.slave = w.spec.name;
    task.start = new Date().toISOString();
    w.stat = WORKER_STATE_CODES.rendering;
    w.jobId = job.raw._id;
    w.taskId = task.taskId;
  }

  /** The worker renders nothing now, in state `stat` (idle, or offline when disabled, unless given). */
  private release(
    w: Worker,
    stat: number = w.enabled ? WORKER_STATE_CODES.idle : WORKER_STATE_CODES.offline,
  ): void {
    w.stat = stat;
    w.jobId = '';
    w.taskId = -1;
  }

  private run(w: Worker, job: Job, task: Task): void {
    this.assign(w, job, task);
    const startedAt = new Date();
    const command = this.commandOf(job, task);
    // A worker is a machine of its own: a session and process group, at the niceness of
    // every simulated render node (see `shellCommand`), so farm and cloud share the CPU evenly.
    const [file, args] = shellCommand(command, RENDER_NICENESS);
    const child = spawn(file, args, {
      stdio: 'ignore',
      env: { ...process.env, ...(job.raw.Props.Env as Record<string, string>) },
      detached: true,
    });
    w.child = child;
    child.once('error', () => undefined);
    child.once('exit', (code) => {
      w.child = undefined;
      this.release(w);
      this.renders.push({
        jobId: job.raw._id,
        taskId: task.taskId,
        worker: w.spec.name,
        command,
        exitCode: code,
        startedAt,
        finishedAt: new Date(),
      });
      // The task may have been suspended, requeued or completed while rendering: then it is not ours.
      if (task.stat !== TASK_STATE_CODES.rendering || task.slave !== w.spec.name) return;
      this.finish(job, task, code);
    });
  }

  private stopRender(job: Job, task: Task): void {
    if (task.stat !== TASK_STATE_CODES.rendering) return;
    const w = this.workers.find((x) => x.jobId === job.raw._id && x.taskId === task.taskId);
    // A remote worker learns at its next heartbeat that the task is no longer its own.
    killGroup(w?.child);
  }

  private updateJob(job: Job): void {
    if (job.raw.Stat !== JOB_STATE_CODES.active) return;
    if (job.tasks.every((t) => t.stat === TASK_STATE_CODES.completed)) {
      job.raw.Stat = JOB_STATE_CODES.completed;
      job.raw.DateComp = new Date().toISOString();
    } else if (job.tasks.some((t) => t.stat === TASK_STATE_CODES.failed)) {
      job.raw.Stat = JOB_STATE_CODES.failed;
    }
  }

  private applyTaskCommand(job: Job, command: string, ids: readonly number[]): number[] {
    const applied: number[] = [];
    for (const task of job.tasks) {
      if (!ids.includes(task.taskId)) continue;
      const was = task.stat;
      switch (command) {
        case 'suspend':
          if (was === TASK_STATE_CODES.completed || was === TASK_STATE_CODES.failed) continue;
          this.stopRender(job, task);
          task.stat = TASK_STATE_CODES.suspended;
          break;
        case 'resume':
          if (was !== TASK_STATE_CODES.suspended) continue;
          task.stat = TASK_STATE_CODES.queued;
          break;
        case 'requeue':
          this.stopRender(job, task);
          task.stat = TASK_STATE_CODES.queued;
          break;
        case 'complete':
          this.stopRender(job, task);
          task.stat = TASK_STATE_CODES.completed;
          task.comp = new Date().toISOString();
          break;
        case 'fail':
          this.stopRender(job, task);
          task.stat = TASK_STATE_CODES.failed;
          break;
        case 'pend':
          if (was !== TASK_STATE_CODES.queued) continue;
          task.stat = TASK_STATE_CODES.pending;
          break;
        case 'releasepending':
          if (was !== TASK_STATE_CODES.pending) continue;
          task.stat = TASK_STATE_CODES.queued;
          break;
        default:
          throw new FakeDeadlineError(500, `unknown command ${command}`);
      }
      applied.push(task.taskId);
    }
    this.updateJob(job);
    return applied;
  }

  // ---------------------------------------------------------------- HTTP

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.authorize(req);
        const url = new URL(req.url ?? '/', 'http://x');
        const text = Buffer.concat(chunks).toString('utf8');
        const body = this.route(req.method ?? 'GET', url, text);
        if (typeof body === 'string') {
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end(body);
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
        }
      } catch (err) {
        const status = err instanceof FakeDeadlineError ? err.status : 500;
        const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
        if (status === 401) headers['WWW-Authenticate'] = 'Basic realm="Deadline"';
        res.writeHead(status, headers).end(err instanceof Error ? err.message : String(err));
      }
    });
  }

  private authorize(req: http.IncomingMessage): void {
    if (this.options.user === undefined) return;
    const want = `Basic ${Buffer.from(`${this.options.user}:${this.options.password ?? ''}`).toString('base64')}`;
    if (req.headers.authorization !== want) throw new FakeDeadlineError(401, 'Unauthorized');
  }

  private route(method: string, url: URL, text: string): unknown {
    const q = (k: string): string | null => {
      for (const [key, v] of url.searchParams) if (key.toLowerCase() === k.toLowerCase()) return v;
      return null;
    };
    const json = (): Record<string, unknown> => {
      if (text.trim() === '') throw new FakeDeadlineError(400, 'Bad Request: no message body');
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new FakeDeadlineError(400, 'Bad Request: body is not JSON');
      }
    };
    switch (`${method} ${url.pathname.replace(/\/$/, '')}`) {
      case 'GET /api/jobs': {
        const ids = q('JobID');
        if (ids !== null)
          return ids
            .split(',')
            .map((id) => this.jobs.get(id.trim())?.raw)
            .filter(Boolean);
        const states = q('States');
        const codes =
          states === null
            ? null
            : states
                .split(',')
                .map((s) => (JOB_STATE_CODES as Record<string, number>)[s.trim().toLowerCase()]);
        return [...this.jobs.values()]
          .filter((j) => codes === null || codes.includes(j.raw.Stat as number))
          .map((j) => j.raw);
      }
      case 'POST /api/jobs': {
        const body = json();
        const id = this.submitJob(
          (body.JobInfo ?? {}) as Record<string, string>,
          (body.PluginInfo ?? {}) as Record<string, string>,
        );
        return body.IdOnly ? { _id: id } : this.jobs.get(id)!.raw;
      }
      case 'GET /api/tasks': {
        const jobId = q('JobID');
        if (!jobId) throw new FakeDeadlineError(400, 'Bad Request: no JobID');
        const job = this.jobs.get(jobId);
        if (!job) throw new FakeDeadlineError(500, `Internal Server Error: job ${jobId} does not exist`);
        const raws = job.tasks.map((t) => ({
          _id: `${jobId}_${t.taskId}`,
          JobID: jobId,
          TaskID: t.taskId,
          Frames: t.frames,
          Slave: t.slave,
          Stat: t.stat,
          Prog: t.stat === TASK_STATE_CODES.completed ? '100 %' : '0 %',
          Errs: t.errs,
          Start: t.start,
          Comp: t.comp,
          WtgStend: false,
        }));
        const one = q('TaskID');
        if (one !== null) return raws.find((t) => t.TaskID === Number(one)) ?? {};
        return { ID: jobId, PreTask: null, Tasks: raws, PostTask: null };
      }
      case 'PUT /api/tasks': {
        const body = json();
        if (typeof body.Command !== 'string') throw new FakeDeadlineError(400, 'Bad Request: no command key');
        const jobId = body.JobID;
        if (typeof jobId !== 'string' || jobId === '')
          throw new FakeDeadlineError(400, 'Bad Request: no JobID');
        const job = this.jobs.get(jobId);
        if (!job) throw new FakeDeadlineError(500, `Internal Server Error: job ${jobId} does not exist`);
        const list = body.TaskList;
        // Deadline's pitfall, reproduced: no list (or an empty one) means every task of the job.
        const ids =
          Array.isArray(list) && list.length > 0 ? list.map(Number) : job.tasks.map((t) => t.taskId);
        const applied = this.applyTaskCommand(job, body.Command.toLowerCase(), ids);
        this.taskCommands.push({ command: body.Command, jobId, taskList: list, applied });
        return 'Success';
      }
      case 'GET /api/slaves': {
        const names = q('Name')
          ?.split(',')
          .map((n) => n.trim().toLowerCase());
        const picked = this.workers.filter((w) => !names || names.includes(w.spec.name.toLowerCase()));
        if (q('NamesOnly') === 'true') return picked.map((w) => w.spec.name);
        if ((q('Data') ?? 'info').toLowerCase() === 'settings')
          return picked.map((w) => ({
            _id: w.spec.name,
            Name: w.spec.name,
            Enable: w.enabled,
            Grps: [...(w.spec.groups ?? [])],
            Pools: [...(w.spec.pools ?? [])],
          }));
        return picked.map((w) => ({
          Name: w.spec.name,
          Stat: w.stat,
          JobId: w.jobId,
          Grps: (w.spec.groups ?? []).join(','),
          Pools: (w.spec.pools ?? []).join(','),
          LastRenderTime: NULL_DATE,
        }));
      }
      case 'PUT /api/slaves': {
        const body = json();
        if (body.Command !== 'savesettings')
          throw new FakeDeadlineError(
            400,
            `Bad Request: unsupported command ${JSON.stringify(body.Command)}`,
          );
        const settings = (body.SlaveSettings ?? {}) as { Name?: unknown; Enable?: unknown };
        const w = typeof settings.Name === 'string' ? this.workerNamed(settings.Name) : undefined;
        if (!w)
          throw new FakeDeadlineError(
            500,
            `Internal Server Error: worker ${String(settings.Name)} does not exist`,
          );
        if (typeof settings.Enable === 'boolean') this.setWorkerEnabled(w.spec.name, settings.Enable);
        return 'Success';
      }
      case 'DELETE /api/slaves': {
        const names = (q('Name') ?? '').split(',').filter(Boolean);
        if (names.length === 0) throw new FakeDeadlineError(400, 'Bad Request: no Name');
        for (const name of names) {
          const w = this.workerNamed(name);
          if (!w) continue;
          this.stopRemote(w.spec.name);
          killGroup(w.child);
          this.workers.splice(this.workers.indexOf(w), 1);
        }
        return 'Success';
      }
      case 'PUT /api/groups':
      case 'PUT /api/pools': {
        const body = json();
        const key = url.pathname.includes('groups') ? 'groups' : 'pools';
        const names = ([] as unknown[]).concat(body.Slave ?? []).map(String);
        const values = ([] as unknown[]).concat(body[key === 'groups' ? 'Group' : 'Pool'] ?? []).map(String);
        for (const name of names) {
          let w = this.workerNamed(name);
          if (!w) {
            // Settings can exist before the worker first starts (deadlinecommand writes them).
            w = { spec: { name }, stat: WORKER_STATE_CODES.offline, jobId: '', taskId: -1, enabled: true };
            this.workers.push(w);
          }
          const old = w.spec[key] ?? [];
          const next = body.OverWrite === true ? values : [...new Set([...old, ...values])];
          w.spec = { ...w.spec, [key]: next };
        }
        return 'Success';
      }
      case 'POST /spillway-testing/workers': {
        const body = json() as { name?: unknown; groups?: unknown; pools?: unknown };
        if (typeof body.name !== 'string' || body.name === '')
          throw new FakeDeadlineError(400, 'Bad Request: no name');
        const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);
        this.registerRemote(body.name, list(body.groups), list(body.pools));
        return 'Success';
      }
      case 'GET /api/pools':
        return [...new Set(['none', ...this.workers.flatMap((w) => w.spec.pools ?? [])])];
      case 'GET /api/groups':
        return [...new Set(['none', ...this.workers.flatMap((w) => w.spec.groups ?? [])])];
      case 'GET /api/limitgroups':
        return [...this.limits].map(([Name, Limit]) => ({ Name, Limit, InUse: this.inUse(Name) }));
      case 'PUT /api/limitgroups': {
        // Deadline's "Set Limit Group": creates or updates the named group's limit.
        const body = json();
        if (typeof body.Command !== 'string') throw new FakeDeadlineError(400, 'Bad Request: no command key');
        if (body.Command.toLowerCase() !== 'set')
          throw new FakeDeadlineError(500, `invalid command ${body.Command}`);
        if (typeof body.Name !== 'string' || typeof body.Limit !== 'number' || !(body.Limit >= 0)) {
          throw new FakeDeadlineError(400, 'Bad Request: Name and Limit are required');
        }
        this.limits.set(body.Name, body.Limit);
        this.limitChanges.push({ name: body.Name, limit: body.Limit });
        return 'Success';
      }
      default: {
        const m = /^\/spillway-testing\/workers\/([^/]+)\/(poll|done|stop)$/.exec(url.pathname);
        if (m && method === 'POST') {
          const name = decodeURIComponent(m[1]!);
          const body = (text.trim() === '' ? {} : json()) as Record<string, unknown>;
          if (m[2] === 'poll')
            return this.pollRemote(name, body.rendering as { jobId?: unknown; taskId?: unknown } | undefined);
          if (m[2] === 'done') {
            this.doneRemote(name, body.jobId, body.taskId, body.exitCode);
            return 'Success';
          }
          this.stopRemote(name);
          return 'Success';
        }
        if (url.pathname.startsWith('/api/tasks')) throw new FakeDeadlineError(501, 'Not Implemented');
        throw new FakeDeadlineError(404, 'Not Found');
      }
    }
  }
}

/** An HTTP error the fake answers with. */
export class FakeDeadlineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Kills a worker's render and everything it started (its process group). */
function killGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
