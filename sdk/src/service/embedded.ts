import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  AddTasksResult,
  CapacityBackend,
  ComputeBackend,
  ComputeTaskSpec,
  OperationOptions,
  OutputFileSpec,
  TaskInfo,
} from '../compute/backend';
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
import { blobStorage } from './blob-storage';
import { writeFileAtomic } from '../state/atomic-file';
import type { RuntimeProviders } from './runtime';
import { sleep } from '../retry';

/**
 * Task process groups started by this service's embedded engine are listed in a file, one
 * `pgid starttime` per line. Task processes run in their own process groups and outlive a
 * SIGKILLed service; the next service kills what the last one left before it dispatches
 * anything, so no frame goes on rendering behind the service's back and completes twice.
 */
export function processGroupFile(dataDir: string): string {
  return path.join(dataDir, 'engine', 'process-groups');
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

/** Where the embedded engine records finished tasks: `<dir>/<jobId>/<taskId>`. */
export function resultsDir(dataDir: string): string {
  return path.join(dataDir, 'engine', 'results');
}

/**
 * The local engine as the embedded default runs it inside the service. Azure Batch keeps a
 * task's state whatever happens to Spillway; so does this, on disk under `results/`:
 * - `<job>/<task>.spec.json`: the task's output files, written when it is added;
 * - `<job>/<task>.exit.json`: exit code and working directory, written by the task's own
 *   shell the moment its command ends (see `durableCommand`), so it survives the service;
 * - `<job>/<task>`: the outcome, written when the engine reports the task completed, after
 *   its outputs are uploaded.
 * A restarted service asks about tasks the new engine never ran: a finished task answers
 * with its outcome; one that ended while the service was down has its outputs uploaded from
 * the previous engine's directory now, as Batch's agent would have, instead of running again.
 */
export class EmbeddedComputeBackend extends LocalComputeBackend {
  private readonly stopRecording: () => void;

  constructor(
    private readonly results: string,
    /** The previous engine's node directories and where they are now. */
    private readonly moved: { readonly from: string; readonly to: string },
    options: ConstructorParameters<typeof LocalComputeBackend>[0],
  ) {
    super(options);
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
    return super.addTasks(jobId, tasks, options);
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

/** The embedded default's compute: the local engine, with its directories under `dataDir`. */
export async function localCompute(config: ServiceConfig, logger: Logger): Promise<ComputeBackend> {
  const root = path.join(config.dataDir, 'engine');
  fs.mkdirSync(root, { recursive: true });
  await reapProcessGroups(processGroupFile(config.dataDir), logger);
  // The last engine's directories stay one run, for outputs of tasks that ended unwatched.
  const nodes = path.join(root, 'nodes');
  const previous = path.join(root, 'previous-nodes');
  fs.rmSync(previous, { recursive: true, force: true });
  if (fs.existsSync(nodes)) fs.renameSync(nodes, previous);
  return new EmbeddedComputeBackend(
    resultsDir(config.dataDir),
    { from: nodes + path.sep, to: previous + path.sep },
    {
      rootDir: root,
      bootDelayMs: config.compute.local.bootDelayMs,
      // Tasks share the machine with the service: they yield the CPU to it.
      niceness: RENDER_NICENESS,
      nodeEnvironment: nodePython(),
    },
  );
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
 * Wraps a task's command so that it records its process group first (see
 * `reapProcessGroups`) and its exit code and working directory last, the moment the command
 * ends, even if the service is gone by then (see `EmbeddedComputeBackend`).
 */
export function durableCommand(command: string, jobId: string, taskId: string, dataDir: string): string {
  const exitFile = path.join(resultsDir(dataDir), jobId, `${taskId}.exit.json`);
  return (
    recordProcessGroup(processGroupFile(dataDir)) +
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
  return {
    compute: batch ? async (c, logger) => batchCompute(batch, logger) : localCompute,
    workerBurst: async (c, logger) => (c.workerBurst ? scaleSetBackend(c.workerBurst, logger) : undefined),
    storage: (c, logger) =>
      blobStorage(
        c,
        logger,
        batch
          ? {}
          : { wrapCommand: (command, jobId, taskId) => durableCommand(command, jobId, taskId, c.dataDir) },
      ),
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
