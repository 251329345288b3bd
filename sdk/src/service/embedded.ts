import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CapacityBackend, ComputeBackend, OperationOptions, TaskInfo } from '../compute/backend';
import { LocalComputeBackend } from '../compute/local';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import { readSecretFile, type ServiceConfig, type WorkerBurstConfig } from '../config';
import { ScaleSetBackend } from '../compute/scaleset';
import { registerSecret } from '../logging';
import type { Logger } from '../logging';
import { UsageError } from '../cli/command';
import { blobStorage } from './blob-storage';
import type { RuntimeProviders } from './runtime';

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
  const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
  return `echo "$$ $(cut -d' ' -f22 /proc/$$/stat 2>/dev/null)" >> ${quoted}; `;
}

/** Kills the process groups a previous service left running; returns how many it killed. */
export function reapProcessGroups(file: string, logger: Logger): number {
  if (!fs.existsSync(file)) return 0;
  let killed = 0;
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

/** Where the embedded engine's tasks record their exit codes: `<dir>/<jobId>/<taskId>`. */
export function resultsDir(dataDir: string): string {
  return path.join(dataDir, 'engine', 'results');
}

/**
 * The local engine as the embedded default runs it inside the service: tasks record their
 * exit codes on disk, so a task that finished while the service was down (killed) is known
 * as finished to the next service, as Azure Batch would know it, instead of being run again.
 */
export class EmbeddedComputeBackend extends LocalComputeBackend {
  constructor(
    private readonly results: string,
    options: ConstructorParameters<typeof LocalComputeBackend>[0],
  ) {
    super(options);
  }

  override async getTask(
    jobId: string,
    taskId: string,
    options?: OperationOptions,
  ): Promise<TaskInfo | undefined> {
    const live = await super.getTask(jobId, taskId, options);
    if (live) return live;
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.results, jobId, taskId), 'utf8').trim();
    } catch {
      return undefined;
    }
    if (!/^\d+$/.test(text)) return undefined; // killed while writing: not known to have finished
    const exitCode = Number(text);
    const at = new Date();
    return {
      jobId,
      taskId,
      state: 'completed',
      result: exitCode === 0 ? 'success' : 'failure',
      exitCode,
      retryCount: 0,
      requeueCount: 0,
      stateTransitionTime: at,
      endTime: at,
    };
  }
}

/** The embedded default's compute: the local engine, with its directories under `dataDir`. */
export async function localCompute(config: ServiceConfig, logger: Logger): Promise<ComputeBackend> {
  const root = path.join(config.dataDir, 'engine');
  fs.mkdirSync(root, { recursive: true });
  reapProcessGroups(processGroupFile(config.dataDir), logger);
  // Node directories of the last run hold nothing the new engine can use.
  fs.rmSync(path.join(root, 'nodes'), { recursive: true, force: true });
  return new EmbeddedComputeBackend(resultsDir(config.dataDir), {
    rootDir: root,
    bootDelayMs: config.compute.local.bootDelayMs,
  });
}

/** Wraps a task's command so it records its process group first and its exit code last. */
export function durableCommand(command: string, jobId: string, taskId: string, dataDir: string): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const dir = path.join(resultsDir(dataDir), jobId);
  const file = path.join(dir, taskId);
  return (
    recordProcessGroup(processGroupFile(dataDir)) +
    `mkdir -p ${q(dir)}; rm -f ${q(file)}; (${command}); rc=$?; echo $rc > ${q(file + '.tmp')} && mv ${q(file + '.tmp')} ${q(file)}; exit $rc`
  );
}

/**
 * The providers `spillway serve` builds from a configuration: the local engine with
 * durable task results, and Blob Storage (Azurite started embedded when no account is
 * configured) for assets in and outputs back.
 */
export function embeddedProviders(config: ServiceConfig): RuntimeProviders {
  if (config.compute.backend !== 'local') {
    throw new UsageError(
      `compute.backend "${config.compute.backend}" is not wired into spillway serve yet; use "local"`,
    );
  }
  return {
    compute: localCompute,
    workerBurst: async (c, logger) => (c.workerBurst ? scaleSetBackend(c.workerBurst, logger) : undefined),
    storage: (c, logger) =>
      blobStorage(c, logger, {
        wrapCommand: (command, jobId, taskId) => durableCommand(command, jobId, taskId, c.dataDir),
      }),
  };
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
