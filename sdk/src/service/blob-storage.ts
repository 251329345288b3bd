import * as fs from 'node:fs';
import * as net from 'node:net';
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
  buildPreparationCommand,
  forEachLimited,
  issueSas,
  manifestBlobName,
  openStorage,
  OUTPUTS_FILE,
  parseManifest,
  uploadNodeScript,
  wrapRenderCommand,
  type OpenStorage,
} from '../storage';
import { renderCommand } from '../template/tokens';
import { AssetStore } from './assets/store';
import type { OutputResolver, TaskFactory } from './frames/dispatcher';
import { assetServiceHandlers } from './grpc/assets';
import type { ServiceStorage } from './runtime';
import { sleep } from '../retry';

/** SAS lifetimes: tasks may wait in a queue for hours before they run. */
const TASK_SAS_MS = 12 * 3600_000;

/** Where a frame's outputs live in the outputs container. */
export function outputPrefix(jobId: string, frameId: string): string {
  return `${jobId}/${frameId}/`;
}

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
  // The embedded Azurite keeps its port across restarts: SAS URLs handed to tasks before a
  // restart stay good. Waiting for the port also waits for a killed service's Azurite to go.
  const azuriteDir = path.join(config.dataDir, 'azurite');
  const portFile = path.join(azuriteDir, 'port');
  const port = config.storage.connectionStringFile ? 0 : await previousPort(portFile, logger);
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
    azurite: { dataDir: azuriteDir, port },
    env: {},
  });
  if (storage.azurite) fs.writeFileSync(portFile, new URL(storage.azurite.blobEndpoint).port);
  logger.info('storage', { source: storage.source });
  const assets = storage.container(config.storage.container);
  const outputs = storage.container(`${config.storage.container}-outputs`);
  await assets.createIfNotExists();
  await outputs.createIfNotExists();
  const scriptBlob = await uploadNodeScript(assets);
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

  const tasks: TaskFactory = {
    async jobFor(jobId: string, spec: JobSpec, group: string): Promise<ComputeJobSpec> {
      const { read, script } = await currentSas();
      const [base, query] = read.split('?');
      const preparation = spec.assetManifestId
        ? buildPreparationCommand({
            scriptUrl: script,
            manifestId: spec.assetManifestId,
            manifestUrl: `${base}/${manifestBlobName(spec.assetManifestId)}?${query}`,
            contentContainerUrl: read,
          })
        : buildPreparationCommand({ scriptUrl: script });
      return {
        id: jobId,
        group,
        preparation,
        maxTaskRetryCount: spec.maxRetries ?? 0,
        ...(spec.environment ? { environment: spec.environment } : {}),
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
      const assetsDir = job.assetManifestId
        ? `export SPILLWAY_ASSETS_DIR="$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/${job.assetManifestId}"; `
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
            path: `logs/${jobId}/${frameId}/stdout.txt`,
            uploadCondition: 'taskCompletion',
          },
          {
            filePattern: '../stderr.txt',
            containerUrl: write,
            path: `logs/${jobId}/${frameId}/stderr.txt`,
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
      // The embedded Azurite keeps which blobs exist in memory for a few seconds: the frame
      // is done only once that is on disk, so a SIGKILL of everything cannot take its outputs.
      if (files.length > 0) await storage.azurite?.flush();
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
      }),
    close: () => storage.close(),
  };
}

/** The port the embedded Azurite had last time, once it is free again (0 if none or still taken after 10 s). */
async function previousPort(file: string, logger: Logger): Promise<number> {
  let port: number;
  try {
    port = Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return 0;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
    if (Date.now() > deadline) {
      logger.warn('the embedded Azurite port is still taken; using another', { port });
      return 0;
    }
    await sleep(200);
  }
}
