/**
 * How a frame becomes a backend task, in one place and pure: given a service job, one of
 * its frames and where storage wants tasks to read and write (SAS URLs), the backend job
 * (asset preparation) and task (command, environment, limits, output uploads, logs). No I/O
 * here: storage only hands out the URLs (`ServiceStorage.taskLocations`), the dispatcher
 * only sends what this returns.
 */
import type { ComputeJobSpec, ComputeTaskSpec, OutputFileSpec } from '../../compute/backend';
import type { FrameSpec, JobSpec } from '../../model/frames';
import { logPrefix, manifestBlobName, outputPrefix } from '../../storage/layout';
import { mountEnvName, mountExports, type MountSpec } from '../../storage/mounts';
import { shellWordForPath } from '../../storage/profiles';
import {
  OUTPUTS_FILE,
  buildEnterCommand,
  buildPreparationCommand,
  buildReleaseCommand,
  wrapRenderCommand,
  type NodeCacheLimit,
} from '../../storage/node';
import { renderCommand } from '../../template/tokens';
import type { TaskFactory } from './dispatcher';

/** Where a job's tasks read assets and write outputs: URLs carrying their SAS. */
export interface TaskLocations {
  /** The assets container (content and manifests), with a read + list SAS. */
  readonly assetsUrl: string;
  /** The node script blob, with a read SAS. */
  readonly nodeScriptUrl: string;
  /** The outputs container, with a create/write SAS. */
  readonly outputsUrl: string;
}

/** One frame to turn into a task. */
export interface FrameTaskInput {
  /** The backend task id (the frame id, or its dispatch generation's). */
  readonly taskId: string;
  readonly jobId: string;
  readonly frameId: string;
  readonly job: JobSpec;
  readonly frame: FrameSpec;
}

/** Where a frame's outputs are written, relative to its task's working directory. */
export const OUT_DIR = 'out';

/** The blob prefix of a frame's outputs in the outputs container: `<job>/<frame>/` (the storage layout's). */
export { outputPrefix };

/** The blob of a frame's log in the outputs container: `logs/<job>/<frame>/<stream>.txt`. */
export function frameLogBlob(jobId: string, frameId: string, stream: 'stdout' | 'stderr'): string {
  return `${logPrefix(jobId, frameId)}${stream}.txt`;
}

/** How the node side treats a job's assets. */
export interface NodeAssetOptions {
  /** The node cache's limit on the job's capacity group. @default half of the node's temporary disk */
  readonly cacheLimit?: NodeCacheLimit;
  /** The mounts of the job's capacity group: each task exports `SPILLWAY_MOUNT_<NAME>`. @default none */
  readonly mounts?: readonly MountSpec[];
}

/** The shell word of a shared output directory: `"$SPILLWAY_MOUNT_<NAME>"/'<path>'`. */
export function sharedOutputWord(shared: NonNullable<JobSpec['sharedOutput']>): string {
  return shellWordForPath(`$${mountEnvName(shared.mount)}${shared.path ? '/' + shared.path : ''}`);
}

/** `blobName` inside the container at `containerUrl`, keeping the container's SAS. */
export function blobUrl(containerUrl: string, blobName: string): string {
  const q = containerUrl.indexOf('?');
  const base = q < 0 ? containerUrl : containerUrl.slice(0, q);
  const query = q < 0 ? '' : containerUrl.slice(q);
  return `${base.replace(/\/+$/, '')}/${blobName}${query}`;
}

/** The command a frame runs: its own, or the job's template with the frame's tokens. */
export function frameCommand(job: JobSpec, frame: FrameSpec): string {
  return (
    frame.command ??
    renderCommand(job.commandTemplate, {
      frameStart: frame.frameStart,
      frameEnd: frame.frameEnd,
      ...(frame.frameStep ? { frameStep: frame.frameStep } : {}),
      job: job.name ?? job.sourceJobId,
    })
  );
}

/**
 * The backend job of a service job on capacity group `group`: its preparation installs the
 * node script and, when the job has an asset manifest, lays the assets out in the node
 * cache (bounded by `node.cacheLimit`), and its release step removes the laid-out tree when
 * the job ends on a node; retries and environment apply to every task. With assets, the
 * manifest and content URLs are in every task's environment too: a task that finds its tree
 * evicted lays it out again.
 */
export function backendJob(
  jobId: string,
  job: JobSpec,
  group: string,
  where: TaskLocations,
  node: NodeAssetOptions = {},
  /** The group's own environment (licence servers, GPUs): it wins over the job's. @default none */
  groupEnvironment: Readonly<Record<string, string>> = {},
): ComputeJobSpec {
  const manifestId = job.assetManifestId;
  const manifestUrl = manifestId ? blobUrl(where.assetsUrl, manifestBlobName(manifestId)) : undefined;
  const preparation = manifestId
    ? buildPreparationCommand({
        scriptUrl: where.nodeScriptUrl,
        manifestId,
        manifestUrl,
        contentContainerUrl: where.assetsUrl,
        ...(node.cacheLimit ? { cacheLimit: node.cacheLimit } : {}),
      })
    : buildPreparationCommand({ scriptUrl: where.nodeScriptUrl });
  const environment = {
    ...job.environment,
    ...groupEnvironment,
    ...(manifestUrl ? { SPILLWAY_MANIFEST_URL: manifestUrl, SPILLWAY_CONTENT_URL: where.assetsUrl } : {}),
  };
  return {
    id: jobId,
    group,
    preparation,
    ...(manifestId ? { release: buildReleaseCommand() } : {}),
    maxTaskRetryCount: job.maxRetries ?? 0,
    ...(Object.keys(environment).length > 0 ? { environment } : {}),
  };
}

/**
 * The backend task of one frame:
 * - the command runs in `$SPILLWAY_ASSETS_DIR`'s reach (when the job has assets), writes into
 *   `out/`, and on success hashes what matches the job's output patterns (default every
 *   file) into `out/outputs.json`;
 * - stderr is merged into stdout (`exec 2>&1`): one log per frame, in the order written;
 * - `out/` goes to `<job>/<frame>/` on success, the log always, and `stderr.txt` (then only
 *   the node agent's own messages) on failure.
 */
export function backendTask(
  input: FrameTaskInput,
  where: TaskLocations,
  node: NodeAssetOptions = {},
): ComputeTaskSpec {
  const { taskId, jobId, frameId, job, frame } = input;
  // The task pins its assets on the node while it runs (and lays them out if they are gone).
  const assetsDir = job.assetManifestId
    ? buildEnterCommand({
        manifestId: job.assetManifestId,
        ...(node.cacheLimit ? { cacheLimit: node.cacheLimit } : {}),
      })
    : '';
  const patterns = job.outputPatterns && job.outputPatterns.length > 0 ? job.outputPatterns : ['**'];
  // Mounts first: the render command, and a shared output directory, name them.
  const commandLine = `exec 2>&1\n${mountExports(node.mounts ?? [])}${wrapRenderCommand(
    `${assetsDir}mkdir -p ${OUT_DIR} && ${frameCommand(job, frame)}`,
    {
      outputDir: OUT_DIR,
      patterns,
      ...(job.sharedOutput ? { publishTo: sharedOutputWord(job.sharedOutput) } : {}),
    },
  )}`;
  const upload = (
    filePattern: string,
    path: string,
    uploadCondition: OutputFileSpec['uploadCondition'],
  ): OutputFileSpec => ({ filePattern, containerUrl: where.outputsUrl, path, uploadCondition });
  return {
    id: taskId,
    commandLine,
    ...(frame.environment ? { environment: frame.environment } : {}),
    ...(job.frameTimeoutMs ? { maxWallClockMs: job.frameTimeoutMs } : {}),
    ...(job.maxRetries !== undefined ? { maxTaskRetryCount: job.maxRetries } : {}),
    outputFiles: [
      // Outputs on a share stay there (the bridge verifies them in place): only their record comes up.
      job.sharedOutput
        ? upload(
            `${OUT_DIR}/${OUTPUTS_FILE}`,
            `${outputPrefix(jobId, frameId)}${OUTPUTS_FILE}`,
            'taskSuccess',
          )
        : upload(`${OUT_DIR}/**/*`, outputPrefix(jobId, frameId).slice(0, -1), 'taskSuccess'),
      upload('../stdout.txt', frameLogBlob(jobId, frameId, 'stdout'), 'taskCompletion'),
      upload('../stderr.txt', frameLogBlob(jobId, frameId, 'stderr'), 'taskFailure'),
    ],
  };
}

/**
 * The dispatcher's task factory over `backendJob` and `backendTask`, with storage's current
 * URLs and, per capacity group (undefined: the default group), the node cache limit.
 */
export function createTaskFactory(
  locations: () => Promise<TaskLocations>,
  options: {
    readonly cacheLimit?: (group: string | undefined) => NodeCacheLimit;
    /** The mounts of a capacity group (undefined: the default group). @default none */
    readonly mounts?: (group: string | undefined) => readonly MountSpec[];
    /** The group's environment (licence servers, GPUs: `CapacityManager.environmentOf`). @default none */
    readonly groupEnvironment?: (group: string) => Readonly<Record<string, string>>;
  } = {},
): TaskFactory {
  const node = (group: string | undefined): NodeAssetOptions => ({
    ...(options.cacheLimit ? { cacheLimit: options.cacheLimit(group) } : {}),
    ...(options.mounts ? { mounts: options.mounts(group) } : {}),
  });
  return {
    jobFor: async (jobId, spec, group) =>
      backendJob(jobId, spec, group, await locations(), node(group), options.groupEnvironment?.(group) ?? {}),
    taskFor: async (taskId, jobId, frameId, job, frame) =>
      backendTask({ taskId, jobId, frameId, job, frame }, await locations(), node(job.capacityGroup)),
  };
}
