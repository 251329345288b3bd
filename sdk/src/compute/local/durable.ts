/**
 * The local engine run as a service's backend, with what Azure Batch gives for free: task
 * state, and tasks, that outlive the process that runs them. Everything lives under one
 * engine directory:
 * - `runs/<time>/nodes/`: each run of the engine has its own node directories (`nodes` links
 *   to the current run's), so a task a previous run started keeps every path it was given;
 *   the previous run's stay, for outputs of tasks that ended unwatched;
 * - `results/<job>/<task>.spec.json`: the task's output files, written when it is added,
 *   their container URLs stripped of any SAS (no credential is kept at rest: a late upload
 *   signs the container afresh);
 * - `results/<job>/<task>.exit.json`: exit code and working directory, written by the task's
 *   own shell the moment its command ends (see {@link durableCommand}), so it survives the
 *   service;
 * - `results/<job>/<task>`: the outcome, written when the engine reports the task completed,
 *   after its outputs are uploaded.
 * Task processes run in their own process groups and outlive a SIGKILLed service, as tasks
 * on a Batch node outlive a client. The next service finds them in `/proc` and adopts them:
 * reported running, collected when they end, ended by terminate. Nothing is waited for and
 * nothing runs twice, so a restart after a SIGKILL is as quick as a cold start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../logging';
import { writeFileAtomic } from '../../state/atomic-file';
import { shellQuote } from '../../template/shell';
import {
  TASK_LOST_CODE,
  type AddTasksResult,
  type ComputeTaskSpec,
  type OperationOptions,
  type OutputFileSpec,
  type TaskEvent,
  type TaskInfo,
} from '../backend';
import { LocalComputeBackend, type LocalComputeBackendOptions } from './backend';
import { uploadOutputFiles } from './files';

/** Where finished tasks are recorded under an engine directory: `<dir>/<jobId>/<taskId>`. */
export function resultsDir(engineDir: string): string {
  return path.join(engineDir, 'results');
}

/**
 * Wraps a task's command so that it records its exit code and working directory the moment
 * the command ends, even if the service is gone by then.
 */
export function durableCommand(command: string, jobId: string, taskId: string, engineDir: string): string {
  const exitFile = path.join(resultsDir(engineDir), jobId, `${taskId}.exit.json`);
  return (
    `(${command}\n); rc=$?; ` +
    `printf '{"exitCode":%d,"workDir":"%s"}' "$rc" "$AZ_BATCH_TASK_WORKING_DIR" > ${shellQuote(exitFile + '.tmp')} && mv ${shellQuote(exitFile + '.tmp')} ${shellQuote(exitFile)}; exit $rc`
  );
}

/** A task process group a previous service left running. */
export interface LeftoverProcessGroup {
  /** The group's id: its leader's pid (the task's `sh`). */
  readonly pgid: number;
  /** The leader's start time (clock ticks since boot), telling a reused pid apart. */
  readonly startTime: string;
  /** The task, for a task the service added (not a job preparation, release or start task). */
  readonly jobId?: string;
  readonly taskId?: string;
  /** Its working directory, from its environment. */
  readonly workDir?: string;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) may hold spaces: fields 3 on follow its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** True while the group's leader is the process that was found (not a reused pid). */
export function leaderAlive(group: Pick<LeftoverProcessGroup, 'pgid' | 'startTime'>): boolean {
  return statFields(group.pgid)?.[19] === group.startTime;
}

/**
 * The task process groups of the engine in `engineDir` still running: every process group
 * leader whose environment places it on one of that engine's nodes. Read from `/proc`, not
 * from a record a task writes (a task started just before the kill may not have written it).
 */
export function leftoverProcessGroups(engineDir: string): LeftoverProcessGroup[] {
  const root = path.resolve(engineDir) + path.sep;
  const groups: LeftoverProcessGroup[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  for (const p of pids) {
    const pid = Number(p);
    const fields = statFields(pid);
    // Leaders only (pgrp, field 5, is the pid); never this process.
    if (!fields || Number(fields[2]) !== pid || pid === process.pid) continue;
    let env: string[];
    try {
      env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      continue; // not ours to read, or gone
    }
    const value = (name: string): string | undefined =>
      env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
    if (!value('AZ_BATCH_NODE_ROOT_DIR')?.startsWith(root)) continue;
    const jobId = value('AZ_BATCH_JOB_ID');
    const taskId = value('AZ_BATCH_TASK_ID');
    const workDir = value('AZ_BATCH_TASK_WORKING_DIR');
    groups.push({
      pgid: pid,
      startTime: fields[19]!,
      ...(jobId && taskId ? { jobId, taskId } : {}),
      ...(workDir ? { workDir } : {}),
    });
  }
  return groups;
}

/** Signs an outputs container URL (without query) for writing: a fresh SAS for a late upload. */
export type OutputUrlSigner = (containerUrl: string) => Promise<string>;

/** Options of {@link openDurableLocalBackend}. */
export interface DurableLocalBackendOptions extends Omit<LocalComputeBackendOptions, 'rootDir' | 'engine'> {
  /** The engine directory: runs, results and their records live here. */
  readonly engineDir: string;
  /** Where adopting left-over processes is reported. */
  readonly logger: Logger;
  /**
   * Signs output containers for uploads of tasks that ended unwatched; its `current` is set
   * once storage is up (until then such tasks wait). @default none: such frames run again
   */
  readonly outputSigner?: { current?: OutputUrlSigner };
  /** How often adopted tasks are checked. @default 200 */
  readonly adoptedPollMs?: number;
}

/** What the backend needs beyond the engine's options. */
interface DurableState {
  readonly engineDir: string;
  readonly adopt: readonly LeftoverProcessGroup[];
  readonly signer: { current?: OutputUrlSigner };
  readonly pollMs: number;
}

/**
 * The local engine's backend with tasks and their results kept across services. A restarted
 * service asks about tasks the new engine never ran: a task still running is adopted; one
 * that ended while the service was down has its outputs uploaded from its directory now, as
 * Batch's agent would have, instead of running again; so has one recorded as done, in case
 * storage lost what it acknowledged (a SIGKILL of everything). A task whose process died
 * with nothing recorded is reported lost (`TASK_LOST_CODE`): its frame runs again.
 */
export class DurableLocalBackend extends LocalComputeBackend {
  private readonly stopRecording: () => void;
  private readonly results: string;
  private readonly listeners = new Set<(e: TaskEvent) => void>();
  private readonly adopted = new Map<string, LeftoverProcessGroup>();
  private readonly poll: NodeJS.Timeout | undefined;
  private collecting = false;

  constructor(
    private readonly durable: DurableState,
    options: LocalComputeBackendOptions,
  ) {
    super(options);
    this.results = resultsDir(durable.engineDir);
    this.stopRecording = this.onTaskEvent((e) => {
      // A lost task has no outcome: asked again, it is unknown (and its frame runs again).
      if (e.type === 'completed' && e.task.failure?.code !== TASK_LOST_CODE)
        this.record(e.task.jobId, e.task.taskId, e.task.result ?? 'failure', e.task.exitCode);
    });
    for (const g of durable.adopt) if (g.jobId && g.taskId) this.adopted.set(`${g.jobId}/${g.taskId}`, g);
    if (this.adopted.size > 0) {
      this.poll = setInterval(() => void this.collectAdopted(), durable.pollMs);
      this.poll.unref();
    }
  }

  private file(jobId: string, taskId: string, suffix = ''): string {
    return path.join(this.results, jobId, taskId + suffix);
  }

  private record(
    jobId: string,
    taskId: string,
    result: 'success' | 'failure',
    exitCode: number | undefined,
  ): void {
    // No fsync: after a power loss a missing outcome is rebuilt from the exit record.
    writeFileAtomic(this.file(jobId, taskId), JSON.stringify({ result, exitCode: exitCode ?? null }), {
      fsync: false,
    });
  }

  override onTaskEvent(listener: (event: TaskEvent) => void): () => void {
    this.listeners.add(listener);
    const off = super.onTaskEvent(listener);
    return () => {
      this.listeners.delete(listener);
      off();
    };
  }

  /** Records each task's output files (no SAS); see {@link commandLineOf} for its command. */
  override async addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    options?: OperationOptions,
  ): Promise<AddTasksResult> {
    fs.mkdirSync(path.join(this.results, jobId), { recursive: true });
    for (const t of tasks) {
      const outputFiles = (t.outputFiles ?? []).map((f) => ({ ...f, containerUrl: bare(f.containerUrl) }));
      fs.writeFileSync(this.file(jobId, t.id, '.spec.json'), JSON.stringify({ outputFiles }));
    }
    return super.addTasks(jobId, tasks, options);
  }

  /** Each task's command runs through {@link durableCommand}. */
  protected override commandLineOf(jobId: string, task: ComputeTaskSpec): string {
    return durableCommand(task.commandLine, jobId, task.id, this.durable.engineDir);
  }

  override async getTask(
    jobId: string,
    taskId: string,
    options?: OperationOptions,
  ): Promise<TaskInfo | undefined> {
    const live = await super.getTask(jobId, taskId, options);
    if (live) return live;
    const adopted = this.adopted.get(`${jobId}/${taskId}`);
    if (adopted && leaderAlive(adopted)) return runningTask(jobId, taskId);
    return this.collectEnded(jobId, taskId, options?.abortSignal);
  }

  /**
   * A task that ended with no engine watching it: its outputs uploaded from its directory
   * (again, when it was recorded done: uploads are idempotent), its outcome recorded.
   * Undefined when nothing is known of it, or its outputs cannot be brought back (its frame
   * then runs again).
   */
  private async collectEnded(
    jobId: string,
    taskId: string,
    signal?: AbortSignal,
  ): Promise<TaskInfo | undefined> {
    const recorded = readJson<{ result?: 'success' | 'failure'; exitCode?: number | null }>(
      this.file(jobId, taskId),
    );
    const exit = readJson<{ exitCode: number; workDir: string }>(this.file(jobId, taskId, '.exit.json'));
    const spec = readJson<{ outputFiles: OutputFileSpec[] }>(this.file(jobId, taskId, '.spec.json'));
    const exitCode = exit?.exitCode ?? recorded?.exitCode ?? undefined;
    const result: 'success' | 'failure' = recorded?.result ?? (exit?.exitCode === 0 ? 'success' : 'failure');
    if (!exit || !spec || !fs.existsSync(exit.workDir)) {
      return recorded ? completedTask(jobId, taskId, result, exitCode) : undefined;
    }
    try {
      const abortSignal = AbortSignal.any([AbortSignal.timeout(30_000), ...(signal ? [signal] : [])]);
      const outputFiles = await this.signed(spec.outputFiles);
      await uploadOutputFiles(outputFiles, exit.workDir, result === 'success', { abortSignal, maxTries: 2 });
    } catch {
      // Recorded done: its uploads happened once; otherwise its frame runs again.
      return recorded ? completedTask(jobId, taskId, result, exitCode) : undefined;
    }
    if (!recorded) this.record(jobId, taskId, result, exitCode);
    return completedTask(jobId, taskId, result, exitCode);
  }

  private async signed(files: readonly OutputFileSpec[]): Promise<OutputFileSpec[]> {
    const sign = this.durable.signer.current;
    if (!sign) throw new Error('storage cannot sign output uploads yet');
    const urls = new Map<string, string>();
    const out: OutputFileSpec[] = [];
    for (const f of files) {
      const url = bare(f.containerUrl);
      if (!urls.has(url)) urls.set(url, await sign(url));
      out.push({ ...f, containerUrl: urls.get(url)! });
    }
    return out;
  }

  /** Collects adopted tasks whose process group has ended, and tells the listeners. */
  private async collectAdopted(): Promise<void> {
    // Until storage is up, an ended task's outputs cannot be uploaded: it waits.
    if (this.collecting || !this.durable.signer.current) return;
    this.collecting = true;
    try {
      for (const [key, group] of this.adopted) {
        if (leaderAlive(group)) continue;
        this.adopted.delete(key);
        const task =
          (await this.collectEnded(group.jobId!, group.taskId!)) ??
          completedTask(group.jobId!, group.taskId!, 'failure', undefined, {
            code: TASK_LOST_CODE,
            message: 'the task was killed while no service watched it (nothing recorded)',
          });
        const event: TaskEvent = { type: 'completed', task, time: new Date() };
        for (const l of this.listeners) l(event);
      }
    } finally {
      this.collecting = false;
      if (this.adopted.size === 0 && this.poll) clearInterval(this.poll);
    }
  }

  /** Kills adopted tasks' process groups (each is then collected as it ends). */
  private killAdopted(match: (g: LeftoverProcessGroup) => boolean): void {
    for (const g of this.adopted.values()) {
      if (!match(g) || !leaderAlive(g)) continue;
      try {
        process.kill(-g.pgid, 'SIGKILL');
      } catch {
        // raced with its exit
      }
    }
  }

  override async terminateTask(jobId: string, taskId: string, options?: OperationOptions): Promise<void> {
    if (this.adopted.has(`${jobId}/${taskId}`)) {
      this.killAdopted((g) => g.jobId === jobId && g.taskId === taskId);
      return;
    }
    return super.terminateTask(jobId, taskId, options);
  }

  override async terminateJob(jobId: string, options?: OperationOptions): Promise<void> {
    this.killAdopted((g) => g.jobId === jobId);
    return super.terminateJob(jobId, options);
  }

  override async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.stopRecording();
    await super.close();
  }
}

/** Runs of the engine kept on disk: the current one and the one before (tasks that ended unwatched). */
const RUNS_KEPT = 2;

/**
 * Opens the durable local backend in `engineDir`: adopts the tasks a previous service left
 * running (and ends anything else it left: job preparation, release or start tasks run again
 * where needed), keeps the previous run's node directories, then starts a fresh engine in a
 * run directory of its own.
 */
export async function openDurableLocalBackend(
  options: DurableLocalBackendOptions,
): Promise<DurableLocalBackend> {
  const { logger, outputSigner, adoptedPollMs, ...engine } = options;
  const engineDir = path.resolve(options.engineDir);
  const runsDir = path.join(engineDir, 'runs');
  fs.mkdirSync(runsDir, { recursive: true });
  const results = resultsDir(engineDir);
  const leftover = leftoverProcessGroups(engineDir);
  const adopt = leftover.filter(
    (g) => g.jobId && g.taskId && fs.existsSync(path.join(results, g.jobId, `${g.taskId}.spec.json`)),
  );
  const ended = leftover.filter((g) => !adopt.includes(g));
  for (const g of ended) {
    try {
      process.kill(-g.pgid, 'SIGKILL');
    } catch {
      // raced with its exit
    }
  }
  if (leftover.length > 0) {
    logger.warn('task processes left by a previous service', { adopted: adopt.length, ended: ended.length });
  }
  // The older layout (one `nodes` directory) is kept as a previous run.
  const link = path.join(engineDir, 'nodes');
  if (fs.existsSync(link) && !fs.lstatSync(link).isSymbolicLink()) {
    fs.mkdirSync(path.join(runsDir, '0'), { recursive: true });
    fs.renameSync(link, path.join(runsDir, '0', 'nodes'));
  }
  fs.rmSync(path.join(engineDir, 'previous-nodes'), { recursive: true, force: true });
  const run = path.join(runsDir, String(Date.now()));
  fs.mkdirSync(run, { recursive: true });
  // Older runs go, except any an adopted task still works in.
  const runs = fs.readdirSync(runsDir).sort((a, b) => Number(b) - Number(a));
  for (const old of runs.slice(RUNS_KEPT)) {
    const dir = path.join(runsDir, old);
    if (!adopt.some((g) => g.workDir?.startsWith(dir + path.sep))) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.join('runs', path.basename(run), 'nodes'), link);
  return new DurableLocalBackend(
    { engineDir, adopt, signer: outputSigner ?? {}, pollMs: adoptedPollMs ?? 200 },
    { ...engine, rootDir: run },
  );
}

/** A URL without its query (a SAS is a credential: not kept at rest). */
function bare(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined; // missing, or torn by a kill mid-write: not known
  }
}

function runningTask(jobId: string, taskId: string): TaskInfo {
  return { jobId, taskId, state: 'running', retryCount: 0, requeueCount: 0, stateTransitionTime: new Date() };
}

function completedTask(
  jobId: string,
  taskId: string,
  result: 'success' | 'failure',
  exitCode: number | undefined,
  failure?: { code: string; message: string },
): TaskInfo {
  const at = new Date();
  return {
    jobId,
    taskId,
    state: 'completed',
    result,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(failure ? { failure } : {}),
    retryCount: 0,
    requeueCount: 0,
    stateTransitionTime: at,
    endTime: at,
  };
}
