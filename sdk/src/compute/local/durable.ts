/**
 * The local engine run as a service's backend, with what Azure Batch gives for free: task
 * state that outlives the process that runs the tasks. Everything lives under one engine
 * directory:
 * - `nodes/`: the engine's node directories (`previous-nodes/` holds the last run's, for one
 *   run, so outputs of tasks that ended unwatched can still be uploaded);
 * - `results/<job>/<task>.spec.json`: the task's output files, written when it is added;
 * - `results/<job>/<task>.exit.json`: exit code and working directory, written by the task's
 *   own shell the moment its command ends (see {@link durableCommand}), so it survives the
 *   service;
 * - `results/<job>/<task>`: the outcome, written when the engine reports the task completed,
 *   after its outputs are uploaded;
 * - `process-groups`: every task's process group, so the next service kills what a
 *   SIGKILLed one left running before it dispatches anything.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../logging';
import { sleep } from '../../retry';
import { writeFileAtomic } from '../../state/atomic-file';
import { shellQuote } from '../../template/shell';
import type { AddTasksResult, ComputeTaskSpec, OperationOptions, OutputFileSpec, TaskInfo } from '../backend';
import { LocalComputeBackend, type LocalComputeBackendOptions } from './backend';
import { uploadOutputFiles } from './files';

/** The list of task process groups under an engine directory: one `pgid starttime` a line. */
export function processGroupFile(engineDir: string): string {
  return path.join(engineDir, 'process-groups');
}

/** Where finished tasks are recorded under an engine directory: `<dir>/<jobId>/<taskId>`. */
export function resultsDir(engineDir: string): string {
  return path.join(engineDir, 'results');
}

/** Shell prefix that records the task's process group (the `sh -c` is the group leader). */
export function recordProcessGroup(file: string): string {
  return `echo "$$ $(cut -d' ' -f22 /proc/$$/stat 2>/dev/null)" >> ${shellQuote(file)}; `;
}

/**
 * Ends the process groups a previous service left running; returns how many it killed.
 * They get `graceMs` to finish on their own first: a task whose render is done but whose
 * outputs are still being collected then records its exit and is collected, not run again.
 */
export async function reapProcessGroups(file: string, logger: Logger, graceMs = 10_000): Promise<number> {
  if (!fs.existsSync(file)) return 0;
  const alive = (): number[] => {
    const pgids: number[] = [];
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [pgidText, startText] = line.trim().split(' ');
      const pgid = Number(pgidText);
      if (!Number.isInteger(pgid) || pgid <= 1) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${pgid}/stat`, 'utf8');
      } catch {
        continue; // gone already
      }
      // Same pid, other process (reused): the start time tells them apart.
      if (startText && stat.split(' ')[21] !== startText) continue;
      pgids.push(pgid);
    }
    return pgids;
  };
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline) await sleep(100);
  let killed = 0;
  for (const pgid of alive()) {
    try {
      process.kill(-pgid, 'SIGKILL');
      killed++;
    } catch {
      // raced with its exit
    }
  }
  fs.writeFileSync(file, '');
  if (killed > 0) logger.warn('killed task processes left by a previous service', { processGroups: killed });
  return killed;
}

/**
 * Wraps a task's command so that it records its process group first (see
 * {@link reapProcessGroups}) and its exit code and working directory last, the moment the
 * command ends, even if the service is gone by then.
 */
export function durableCommand(command: string, jobId: string, taskId: string, engineDir: string): string {
  const exitFile = path.join(resultsDir(engineDir), jobId, `${taskId}.exit.json`);
  return (
    recordProcessGroup(processGroupFile(engineDir)) +
    `(${command}\n); rc=$?; ` +
    `printf '{"exitCode":%d,"workDir":"%s"}' "$rc" "$AZ_BATCH_TASK_WORKING_DIR" > ${shellQuote(exitFile + '.tmp')} && mv ${shellQuote(exitFile + '.tmp')} ${shellQuote(exitFile)}; exit $rc`
  );
}

/** Options of {@link openDurableLocalBackend}. */
export interface DurableLocalBackendOptions extends Omit<LocalComputeBackendOptions, 'rootDir' | 'engine'> {
  /** The engine directory: nodes, results and the process-group list live here. */
  readonly engineDir: string;
  /** Where reaping left-over processes is reported. */
  readonly logger: Logger;
}

/**
 * The local engine's backend with task results kept on disk. A restarted service asks about
 * tasks the new engine never ran: a finished task answers with its outcome; one that ended
 * while the service was down has its outputs uploaded from the previous engine's directory
 * now, as Batch's agent would have, instead of running again.
 */
export class DurableLocalBackend extends LocalComputeBackend {
  private readonly stopRecording: () => void;
  private readonly results: string;

  constructor(
    private readonly engineDir: string,
    /** The previous engine's node directories and where they are now. */
    private readonly moved: { readonly from: string; readonly to: string },
    options: LocalComputeBackendOptions,
  ) {
    super({ ...options, rootDir: engineDir });
    this.results = resultsDir(engineDir);
    this.stopRecording = this.onTaskEvent((e) => {
      if (e.type === 'completed')
        this.record(e.task.jobId, e.task.taskId, e.task.result ?? 'failure', e.task.exitCode);
    });
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

  /** Records each task's output files, and runs its command through {@link durableCommand}. */
  override async addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    options?: OperationOptions,
  ): Promise<AddTasksResult> {
    fs.mkdirSync(path.join(this.results, jobId), { recursive: true });
    for (const t of tasks) {
      fs.writeFileSync(
        this.file(jobId, t.id, '.spec.json'),
        JSON.stringify({ outputFiles: t.outputFiles ?? [] }),
      );
    }
    const durable = tasks.map((t) => ({
      ...t,
      commandLine: durableCommand(t.commandLine, jobId, t.id, this.engineDir),
    }));
    return super.addTasks(jobId, durable, options);
  }

  override async getTask(
    jobId: string,
    taskId: string,
    options?: OperationOptions,
  ): Promise<TaskInfo | undefined> {
    const live = await super.getTask(jobId, taskId, options);
    if (live) return live;
    const recorded = readJson<{ result?: 'success' | 'failure'; exitCode?: number | null }>(
      this.file(jobId, taskId),
    );
    if (recorded)
      return completedTask(jobId, taskId, recorded.result ?? 'failure', recorded.exitCode ?? undefined);
    const exit = readJson<{ exitCode: number; workDir: string }>(this.file(jobId, taskId, '.exit.json'));
    const spec = readJson<{ outputFiles: OutputFileSpec[] }>(this.file(jobId, taskId, '.spec.json'));
    if (!exit || !spec || !exit.workDir.startsWith(this.moved.from)) return undefined;
    // It ended while no engine watched: upload its outputs now, as the node agent would have.
    const workDir = this.moved.to + exit.workDir.slice(this.moved.from.length);
    const result: 'success' | 'failure' = exit.exitCode === 0 ? 'success' : 'failure';
    try {
      const abortSignal = AbortSignal.any([
        AbortSignal.timeout(30_000),
        ...(options?.abortSignal ? [options.abortSignal] : []),
      ]);
      await uploadOutputFiles(spec.outputFiles, workDir, result === 'success', { abortSignal, maxTries: 2 });
    } catch {
      return undefined; // its outputs cannot be brought back: the frame runs again
    }
    this.record(jobId, taskId, result, exit.exitCode);
    return completedTask(jobId, taskId, result, exit.exitCode);
  }

  override async close(): Promise<void> {
    this.stopRecording();
    await super.close();
  }
}

/**
 * Opens the durable local backend in `engineDir`: kills what a previous service left
 * running, keeps the previous run's node directories one run (outputs of tasks that ended
 * unwatched), then starts a fresh engine.
 */
export async function openDurableLocalBackend(
  options: DurableLocalBackendOptions,
): Promise<DurableLocalBackend> {
  const { engineDir, logger, ...engine } = options;
  fs.mkdirSync(engineDir, { recursive: true });
  await reapProcessGroups(processGroupFile(engineDir), logger);
  const nodes = path.join(engineDir, 'nodes');
  const previous = path.join(engineDir, 'previous-nodes');
  fs.rmSync(previous, { recursive: true, force: true });
  if (fs.existsSync(nodes)) fs.renameSync(nodes, previous);
  return new DurableLocalBackend(engineDir, { from: nodes + path.sep, to: previous + path.sep }, engine);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined; // missing, or torn by a kill mid-write: not known
  }
}

function completedTask(
  jobId: string,
  taskId: string,
  result: 'success' | 'failure',
  exitCode: number | undefined,
): TaskInfo {
  const at = new Date();
  return {
    jobId,
    taskId,
    state: 'completed',
    result,
    ...(exitCode !== undefined ? { exitCode } : {}),
    retryCount: 0,
    requeueCount: 0,
    stateTransitionTime: at,
    endTime: at,
  };
}
