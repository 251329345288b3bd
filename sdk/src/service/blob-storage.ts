import * as path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import type { ComputeJobSpec, ComputeTaskSpec } from '../compute/backend';
import type { ServiceConfig } from '../config';
import { readSecretFile } from '../config';
import { FailedPreconditionError } from '../errors';
import type { Logger } from '../logging';
import type { FrameSpec, JobSpec, OutputFile } from '../model/frames';
import {
  blobSize,
  buildEnterCommand,
  buildPreparationCommand,
  buildReleaseCommand,
  forEachLimited,
  issueSas,
  manifestBlobName,
  openStorage,
  OUTPUTS_FILE,
  outputPrefix,
  logPrefix,
  parseManifest,
  storageLayout,
  uploadNodeScript,
  wrapRenderCommand,
  type NodeCacheLimit,
  type OpenStorage,
} from '../storage';
import { renderCommand } from '../template/tokens';
import { AssetLifecycle } from './assets/lifecycle';
import { AssetStore } from './assets/store';
import type { OutputResolver, TaskFactory } from './frames/dispatcher';
import { assetServiceHandlers } from './grpc/assets';
import type { ServiceStorage } from './runtime';

/** SAS lifetimes: tasks may wait in a queue for hours before they run. */
const TASK_SAS_MS = 12 * 3600_000;

/** Where a frame's outputs live in the outputs container. */
export { outputPrefix };

/** Options of `blobStorage`. */
export interface BlobStorageOptions {
  /** Wraps each task's final command (the embedded engine's durability wrapper). @default none */
  readonly wrapCommand?: (command: string, jobId: string, taskId: string) => string;
}

/** Where a frame's outputs are written, relative to its task's working directory. */
const OUT_DIR = 'out';

/**
 * Blob Storage as the service uses it (a storage account, or Azurite started embedded):
 * - the assets container holds content (`content/<sha256>`), manifests and the node script;
 *   job preparation fetches a job's manifest into the node cache with read-only SAS URLs;
 * - the outputs container receives each frame's `out/` directory, with `outputs.json`
 *   hashed on the node, through a create/write-only SAS;
 * - a frame counts as succeeded only when every output it listed is in the container with
 *   its size;
 * - a frame's log is its task's `stdout.txt`, with its stderr interleaved as it was written
 *   (`logs/<job>/<frame>/stdout.txt`, one blob per frame); `stderr.txt`, which then holds
 *   only what the node agent itself wrote, is kept too when the task failed.
 */
export async function blobStorage(
  config: ServiceConfig,
  logger: Logger,
  options: BlobStorageOptions = {},
): Promise<
  ServiceStorage & {
    readonly storage: OpenStorage;
    readonly outputs: OutputResolver;
    outputsContainer: ContainerClient;
  }
> {
  // One Azurite per data directory (its owner lock): the CLI run beside the service joins
  // it. It keeps its port across restarts, so SAS URLs handed to tasks before a restart stay good.
  const storage = await openStorage({
    ...(config.storage.connectionStringFile
      ? {
          connectionString: readSecretFile(
            config.storage.connectionStringFile,
            'storage.connectionStringFile',
          ),
        }
      : {}),
    embedded: true,
    azurite: { dataDir: path.join(config.dataDir, 'azurite') },
    env: {},
  });
  logger.info('storage', {
    source: storage.source,
    ...(storage.azurite ? { azurite: storage.azurite.owned ? 'started' : 'joined' } : {}),
  });
  const layout = storageLayout(config.storage.container);
  const assets = storage.container(layout.assets);
  const outputs = storage.container(layout.outputs);
  await assets.createIfNotExists();
  await outputs.createIfNotExists();
  const scriptBlob = await uploadNodeScript(assets);
  const lifecycle = new AssetLifecycle({
    assets,
    outputs,
    logger,
    gc: config.storage.gc,
    outputsExpireAfterMs: config.storage.outputsExpireAfterMs,
  });
  const wrap = options.wrapCommand ?? ((c: string) => c);

  // SAS for tasks: read (assets, script) and create/write (outputs), renewed at half life.
  let sas: { write: string; read: string; script: string; at: number } | undefined;
  const currentSas = async (): Promise<NonNullable<typeof sas>> => {
    if (!sas || Date.now() - sas.at > TASK_SAS_MS / 2) {
      sas = {
        write: (await issueSas(outputs, { access: 'write', expiresInMs: TASK_SAS_MS })).url,
        read: (await issueSas(assets, { access: 'read', expiresInMs: TASK_SAS_MS })).url,
        script: (await issueSas(assets, { access: 'read', blobName: scriptBlob, expiresInMs: TASK_SAS_MS }))
          .url,
        at: Date.now(),
      };
    }
    return sas;
  };

  // The node cache limit of a group: its own, else the service's, else a share of the disk.
  const cacheLimitOf = (group: string): NodeCacheLimit => {
    const { groups, maxBytes, fraction } = config.storage.nodeCache;
    const bytes = groups[group] ?? maxBytes;
    return bytes > 0 ? { bytes } : { fraction };
  };

  const tasks: TaskFactory = {
    async jobFor(jobId: string, spec: JobSpec, group: string): Promise<ComputeJobSpec> {
      const { read, script } = await currentSas();
      const [base, query] = read.split('?');
      const manifestId = spec.assetManifestId;
      const manifestUrl = manifestId ? `${base}/${manifestBlobName(manifestId)}?${query}` : undefined;
      const preparation = manifestId
        ? buildPreparationCommand({
            scriptUrl: script,
            manifestId,
            manifestUrl,
            contentContainerUrl: read,
            cacheLimit: cacheLimitOf(group),
          })
        : buildPreparationCommand({ scriptUrl: script });
      // A task that finds its tree gone (evicted while the job was idle on its node) lays it
      // out again: it needs the URLs the preparation had.
      const environment = {
        ...spec.environment,
        ...(manifestUrl ? { SPILLWAY_MANIFEST_URL: manifestUrl, SPILLWAY_CONTENT_URL: read } : {}),
      };
      return {
        id: jobId,
        group,
        preparation,
        // When the job ends on a node: its laid-out tree goes (the shared cache stays).
        ...(manifestId ? { release: buildReleaseCommand() } : {}),
        maxTaskRetryCount: spec.maxRetries ?? 0,
        ...(Object.keys(environment).length > 0 ? { environment } : {}),
      };
    },
    async taskFor(
      taskId: string,
      jobId: string,
      frameId: string,
      job: JobSpec,
      frame: FrameSpec,
    ): Promise<ComputeTaskSpec> {
      const { write } = await currentSas();
      const command =
        frame.command ??
        renderCommand(job.commandTemplate, {
          frameStart: frame.frameStart,
          frameEnd: frame.frameEnd,
          ...(frame.frameStep ? { frameStep: frame.frameStep } : {}),
          job: job.name ?? job.sourceJobId,
        });
      // The task pins its assets on the node while it runs (and lays them out if they are gone).
      const assetsDir = job.assetManifestId
        ? buildEnterCommand({
            manifestId: job.assetManifestId,
            cacheLimit: cacheLimitOf(job.capacityGroup ?? config.compute.defaultGroup),
          })
        : '';
      // One log per frame, in the order things happened: stderr goes where stdout goes.
      const wrapped = `exec 2>&1\n${wrapRenderCommand(`${assetsDir}mkdir -p ${OUT_DIR} && ${command}`, {
        outputDir: OUT_DIR,
        patterns: job.outputPatterns && job.outputPatterns.length > 0 ? job.outputPatterns : ['**'],
      })}`;
      return {
        id: taskId,
        commandLine: wrap(wrapped, jobId, taskId),
        ...(frame.environment ? { environment: frame.environment } : {}),
        ...(job.frameTimeoutMs ? { maxWallClockMs: job.frameTimeoutMs } : {}),
        ...(job.maxRetries !== undefined ? { maxTaskRetryCount: job.maxRetries } : {}),
        outputFiles: [
          {
            filePattern: `${OUT_DIR}/**/*`,
            containerUrl: write,
            path: outputPrefix(jobId, frameId).slice(0, -1),
            uploadCondition: 'taskSuccess',
          },
          {
            filePattern: '../stdout.txt',
            containerUrl: write,
            path: `${logPrefix(jobId, frameId)}stdout.txt`,
            uploadCondition: 'taskCompletion',
          },
          {
            filePattern: '../stderr.txt',
            containerUrl: write,
            path: `${logPrefix(jobId, frameId)}stderr.txt`,
            uploadCondition: 'taskFailure',
          },
        ],
      };
    },
  };

  const outputsResolver: OutputResolver = {
    async outputsOf(jobId, frameId, opts = {}) {
      const prefix = outputPrefix(jobId, frameId);
      // The node's copy when the backend serves task files (no storage round trip), else the
      // uploaded one. Either way every output it lists is checked in the container below.
      const onNode = await opts.readTaskFile?.(`wd/${OUT_DIR}/${OUTPUTS_FILE}`).catch(() => undefined);
      let text: string;
      if (onNode) {
        text = onNode.toString('utf8');
      } else {
        try {
          const buffer = await outputs
            .getBlobClient(`${prefix}${OUTPUTS_FILE}`)
            .downloadToBuffer(undefined, undefined, {
              abortSignal: opts.abortSignal,
            });
          text = buffer.toString('utf8');
        } catch (e) {
          throw new FailedPreconditionError(
            `${OUTPUTS_FILE} of frame ${frameId} is not in the outputs container (${(e as { code?: string }).code ?? 'error'})`,
          );
        }
      }
      const manifest = parseManifest(text, OUTPUTS_FILE);
      // Each listed output by name, not a listing of the prefix: a lookup by name stays cheap
      // however many blobs the container holds (Azurite scans the container to list a prefix).
      const files: OutputFile[] = manifest.files.map((f) => ({
        path: f.path,
        sizeBytes: f.sizeBytes,
        sha256: f.sha256,
      }));
      await forEachLimited(
        files,
        8,
        async (f) => {
          const size = await blobSize(outputs.getBlobClient(prefix + f.path), opts.abortSignal);
          if (size !== f.sizeBytes) {
            throw new FailedPreconditionError(
              `output ${f.path} of frame ${frameId} is missing or has the wrong size (${size ?? 'missing'} != ${f.sizeBytes})`,
            );
          }
        },
        opts.abortSignal,
      );
      return files;
    },
  };

  return {
    storage,
    outputsContainer: outputs,
    tasks,
    outputs: outputsResolver,
    // Content and manifests where `syncAssets` puts them; outputs where tasks upload them.
    assetService: (ctx, { store }) =>
      assetServiceHandlers(ctx, {
        assets: new AssetStore({
          assets,
          outputs,
          frames: store,
          outputBlobName: (jobId, frameId, file) => `${outputPrefix(jobId, frameId)}${file}`,
        }),
        lifecycle,
      }),
    admitJob: (job, submit) => lifecycle.admitJob(job, submit),
    attach: ({ store }) => lifecycle.attach(store),
    close: async () => {
      await lifecycle.close();
      await storage.close();
    },
  };
}
