import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  AddTasksResult,
  CapacityBackend,
  ComputeBackend,
  ComputeTaskSpec,
  OperationOptions,
  OutputFileSpec,
  TaskEvent,
  TaskInfo,
} from '../compute/backend';
import { TASK_LOST_CODE } from '../compute/backend';
import { uploadOutputFiles } from '../compute/local/files';
import { BatchComputeBackend } from '../compute/batch';
import { LocalComputeBackend, RENDER_NICENESS } from '../compute/local';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import { readSecretFile, type ServiceConfig, type WorkerBurstConfig } from '../config';
import { ScaleSetBackend } from '../compute/scaleset';
import { registerSecret, type Logger } from '../logging';

import { UsageError } from '../cli/command';
import { shellQuote } from '../template/shell';
import { issueSas } from '../storage';
import { blobStorage } from './blob-storage';
import { writeFileAtomic } from '../state/atomic-file';
import type { RuntimeProviders } from './runtime';

/** A task process group a previous service left running. */
export interface LeftoverProcessGroup {
  /** The group's id: its leader's pid (the task's `sh`). */
  readonly pgid: number;
  /** The leader's start time (clock ticks since boot), telling a reused pid apart. */
  readonly startTime: string;
  /** The task, for a frame's task (not for job preparation, release or start tasks). */
  readonly jobId?: string;
  readonly taskId?: string;
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
 * The task process groups of an embedded engine under `engineDir` that are still running:
 * every process group leader whose environment places it on one of that engine's nodes.
 * Task processes run in their own process groups and outlive a SIGKILLed service, as tasks
 * on a Batch node outlive a client; they are found from `/proc` (not from a record a task
 * writes, which a task started just before the kill may not have written yet).
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
    // Leaders only (pgrp, field 5, is the pid); not this process.
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
    groups.push({ pgid: pid, startTime: fields[19]!, ...(jobId && taskId ? { jobId, taskId } : {}) });
  }
  return groups;
}

/** Where the embedded engine records finished tasks: `<dir>/<jobId>/<taskId>`. */
export function resultsDir(dataDir: string): string {
  return path.join(dataDir, 'engine', 'results');
}

/** Signs an outputs container URL (without query) for writing: a fresh SAS, when a task's outputs are uploaded late. */
export type OutputUrlSigner = (containerUrl: string) => Promise<string>;

/** Options of the embedded backend beyond the local engine's. */
export interface EmbeddedBackendOptions {
  /** Where task records live (`results/`). */
  readonly results: string;
  /** Task process groups a previous service left running, to adopt. @default none */
  readonly adopt?: readonly LeftoverProcessGroup[];
  /** Signs output containers for late uploads (set once storage is up). */
  readonly signer: { current?: OutputUrlSigner };
  /** How often adopted tasks are checked. @default 200 */
  readonly adoptedPollMs?: number;
}

/**
 * The local engine as the embedded default runs it inside the service. Azure Batch keeps a
 * task's state whatever happens to Spillway; so does this, on disk under `results/`:
 * - `<job>/<task>.spec.json`: the task's output files, written when it is added, with their
 *   container URLs stripped of any SAS (no credential is kept at rest: a late upload signs
 *   the container afresh);
 * - `<job>/<task>.exit.json`: exit code and working directory, written by the task's own
 *   shell the moment its command ends (see `durableCommand`), so it survives the service;
 * - `<job>/<task>`: the outcome, written when the engine reports the task completed, after
 *   its outputs are uploaded.
 * A restarted service asks about tasks the new engine never ran: a task still running is
 * adopted (reported running, collected when its process group ends, ended by terminate);
 * one that ended while the service was down has its outputs uploaded from its directory
 * now, as Batch's agent would have, instead of running again; so has one recorded as done,
 * in case the storage lost what it acknowledged (a SIGKILL of everything).
 */
export class EmbeddedComputeBackend extends LocalComputeBackend {
  private readonly stopRecording: () => void;
  private readonly listeners = new Set<(e: TaskEvent) => void>();
  private readonly adopted = new Map<string, LeftoverProcessGroup>();
  private readonly poll: NodeJS.Timeout | undefined;

  constructor(
    private readonly embedded: EmbeddedBackendOptions,
    options: ConstructorParameters<typeof LocalComputeBackend>[0],
  ) {
    super(options);
    this.stopRecording = this.onTaskEvent((e) => {
      // A lost task has no outcome: asked again, it is unknown (and its frame runs again).
      if (e.type === 'completed' && e.task.failure?.code !== TASK_LOST_CODE)
        this.record(e.task.jobId, e.task.taskId, e.task.result ?? 'failure', e.task.exitCode);
    });
    for (const g of embedded.adopt ?? []) {
      if (g.jobId && g.taskId) this.adopted.set(`${g.jobId}/${g.taskId}`, g);
    }
    if (this.adopted.size > 0) {
      this.poll = setInterval(() => void this.collectAdopted(), embedded.adoptedPollMs ?? 200);
      this.poll.unref();
    }
  }

  private file(jobId: string, taskId: string, suffix = ''): string {
    return path.join(this.embedded.results, jobId, taskId + suffix);
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

  override async addTasks(
    jobId: string,
    tasks: readonly ComputeTaskSpec[],
    options?: OperationOptions,
  ): Promise<AddTasksResult> {
    fs.mkdirSync(path.join(this.embedded.results, jobId), { recursive: true });
    for (const t of tasks) {
      const outputFiles = (t.outputFiles ?? []).map((f) => ({
        ...f,
        containerUrl: withoutQuery(f.containerUrl),
      }));
      fs.writeFileSync(this.file(jobId, t.id, '.spec.json'), JSON.stringify({ outputFiles }));
    }
    return super.addTasks(jobId, tasks, options);
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
   * (again, if it was recorded done: uploads are idempotent), its outcome recorded.
   * Undefined when nothing is known of it, or its outputs cannot be brought back (the frame
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
      // Recorded done: its uploads happened once; otherwise the frame runs again.
      return recorded ? completedTask(jobId, taskId, result, exitCode) : undefined;
    }
    if (!recorded) this.record(jobId, taskId, result, exitCode);
    return completedTask(jobId, taskId, result, exitCode);
  }

  private async signed(files: readonly OutputFileSpec[]): Promise<OutputFileSpec[]> {
    const sign = this.embedded.signer.current;
    if (!sign) throw new Error('storage is not ready to sign output uploads');
    const urls = new Map<string, string>();
    const out: OutputFileSpec[] = [];
    for (const f of files) {
      const bare = withoutQuery(f.containerUrl);
      if (!urls.has(bare)) urls.set(bare, await sign(bare));
      out.push({ ...f, containerUrl: urls.get(bare)! });
    }
    return out;
  }

  /** Collects adopted tasks whose process group has ended, and tells the listeners. */
  private collecting = false;
  private async collectAdopted(): Promise<void> {
    // Until storage is up, an ended task's outputs cannot be uploaded: it waits.
    if (this.collecting || !this.embedded.signer.current) return;
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

  /** Kills an adopted task's process group (it is then collected as failed). */
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

function withoutQuery(url: string): string {
  const at = url.indexOf('?');
  return at < 0 ? url : url.slice(0, at);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined; // missing, or torn by a kill mid-write: not known
  }
}

function runningTask(jobId: string, taskId: string): TaskInfo {
  const at = new Date();
  return { jobId, taskId, state: 'running', retryCount: 0, requeueCount: 0, stateTransitionTime: at };
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

/** Runs of the engine kept on disk: the current one and the one before (for tasks that ended unwatched). */
const RUNS_KEPT = 2;

/**
 * The embedded default's compute: the local engine, with its directories under `dataDir`.
 * Each run of the engine has its own directory (`engine/runs/<time>`, with `engine/nodes`
 * pointing at the current run's nodes): a task a previous service left running keeps every
 * path it was given, and is adopted instead of waited for or killed, so a restart after a
 * SIGKILL is as quick as a cold one.
 */
export function localCompute(signer: { current?: OutputUrlSigner }) {
  return async (config: ServiceConfig, logger: Logger): Promise<ComputeBackend> => {
    const engineDir = path.resolve(config.dataDir, 'engine');
    const runsDir = path.join(engineDir, 'runs');
    fs.mkdirSync(runsDir, { recursive: true });
    const results = resultsDir(config.dataDir);
    const leftover = leftoverProcessGroups(engineDir);
    // A frame's task goes on and is adopted; anything else (job preparation, release, a
    // node's start task) is ended: the new engine runs it again where it is needed.
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
      logger.warn('task processes left by a previous service', {
        adopted: adopt.length,
        ended: ended.length,
      });
    }
    // An older layout (one `nodes` directory): kept as a previous run.
    const legacy = path.join(engineDir, 'nodes');
    if (fs.existsSync(legacy) && !fs.lstatSync(legacy).isSymbolicLink()) {
      fs.mkdirSync(path.join(runsDir, '0'), { recursive: true });
      fs.renameSync(legacy, path.join(runsDir, '0', 'nodes'));
    }
    const run = path.join(runsDir, String(Date.now()));
    fs.mkdirSync(run, { recursive: true });
    // Old runs go, except the last ones and any an adopted task still works in.
    const runs = fs.readdirSync(runsDir).sort((a, b) => Number(b) - Number(a));
    for (const old of runs.slice(RUNS_KEPT)) {
      const dir = path.join(runsDir, old);
      if (!adopt.some((g) => workDirOf(g)?.startsWith(dir + path.sep))) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    fs.rmSync(legacy, { force: true });
    fs.symlinkSync(path.join('runs', path.basename(run), 'nodes'), legacy);
    return new EmbeddedComputeBackend(
      { results, adopt, signer },
      {
        rootDir: run,
        bootDelayMs: config.compute.local.bootDelayMs,
        // Tasks share the machine with the service: they yield the CPU to it.
        niceness: RENDER_NICENESS,
        nodeEnvironment: nodePython(),
      },
    );
  };
}

/** Where an adopted task works, from the environment its shell was given (unknown when unreadable). */
function workDirOf(group: LeftoverProcessGroup): string | undefined {
  try {
    const env = fs.readFileSync(`/proc/${group.pgid}/environ`, 'utf8').split('\0');
    return env
      .find((e) => e.startsWith('AZ_BATCH_TASK_WORKING_DIR='))
      ?.slice('AZ_BATCH_TASK_WORKING_DIR='.length);
  } catch {
    return undefined;
  }
}

/**
 * The interpreter the node script runs with (see `wrapRenderCommand`): `SPILLWAY_PYTHON` if
 * the service has it, else the system's `/usr/bin/python3` when present.
 */
function nodePython(): Record<string, string> {
  const chosen = process.env.SPILLWAY_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : '');
  return chosen ? { SPILLWAY_PYTHON: chosen } : {};
}

/**
 * Wraps a task's command so that it records its exit code and working directory the moment
 * the command ends, even if the service is gone by then (see `EmbeddedComputeBackend`).
 */
export function durableCommand(command: string, jobId: string, taskId: string, dataDir: string): string {
  const exitFile = path.join(resultsDir(dataDir), jobId, `${taskId}.exit.json`);
  return (
    `(${command}\n); rc=$?; ` +
    `printf '{"exitCode":%d,"workDir":"%s"}' "$rc" "$AZ_BATCH_TASK_WORKING_DIR" > ${shellQuote(exitFile + '.tmp')} && mv ${shellQuote(exitFile + '.tmp')} ${shellQuote(exitFile)}; exit $rc`
  );
}

/**
 * The providers `spillway serve` builds from a configuration: the local engine with
 * durable task results, and Blob Storage (Azurite started embedded when no account is
 * configured) for assets in and outputs back.
 */
export function embeddedProviders(config: ServiceConfig): RuntimeProviders {
  const batch = config.compute.backend === 'batch' ? config.compute.batch : undefined;
  if (config.compute.backend === 'batch' && !batch) {
    throw new UsageError('compute.backend is "batch" but compute.batch.accountUrl is not set');
  }
  // The engine uploads outputs of tasks that ended while no service watched: storage signs them.
  const signer: { current?: OutputUrlSigner } = {};
  return {
    compute: batch ? async (c, logger) => batchCompute(batch, logger) : localCompute(signer),
    workerBurst: async (c, logger) => (c.workerBurst ? scaleSetBackend(c.workerBurst, logger) : undefined),
    storage: async (c, logger) => {
      const storage = await blobStorage(
        c,
        logger,
        batch
          ? {}
          : { wrapCommand: (command, jobId, taskId) => durableCommand(command, jobId, taskId, c.dataDir) },
      );
      const outputs = storage.outputsContainer;
      signer.current = async (containerUrl) => {
        if (containerUrl !== outputs.url) throw new Error('not the outputs container');
        return (await issueSas(outputs, { access: 'write', expiresInMs: 3_600_000 })).url;
      };
      return storage;
    },
  };
}

/** Azure Batch (or `spillway emulate batch`) as the frame-offload backend. */
export function batchCompute(
  config: NonNullable<ServiceConfig['compute']['batch']>,
  _logger: Logger,
): ComputeBackend {
  if (config.accountKeyFile && !config.accountName) {
    throw new UsageError('compute.batch.accountName is required with compute.batch.accountKeyFile');
  }
  let credential: ConstructorParameters<typeof BatchComputeBackend>[0]['credential'];
  if (config.accountKeyFile) {
    const accountKey = readSecretFile(config.accountKeyFile, 'compute.batch.accountKeyFile');
    registerSecret(accountKey);
    credential = { accountName: config.accountName!, accountKey };
  } else {
    credential = new DefaultAzureCredential();
  }
  return new BatchComputeBackend({ accountUrl: config.accountUrl, credential });
}

/** The worker-burst backend for a configuration: Azure (or `spillway emulate arm`). */
export function scaleSetBackend(config: WorkerBurstConfig, logger: Logger): CapacityBackend {
  const credential: TokenCredential = config.tokenFile
    ? staticToken(readSecretFile(config.tokenFile, 'workerBurst.tokenFile'))
    : new DefaultAzureCredential();
  return new ScaleSetBackend({
    credential,
    subscriptionId: config.subscriptionId,
    resourceGroup: config.resourceGroup,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.caFile ? { trustedCaPem: fs.readFileSync(config.caFile, 'utf8') } : {}),
    logger,
  });
}

function staticToken(token: string): TokenCredential {
  registerSecret(token);
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}
