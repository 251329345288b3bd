/**
 * How long things live in the service's storage: content garbage collection (on demand
 * through the AssetService, and on a schedule), job admission against it (a job naming a
 * manifest is admitted only while the manifest exists, and then keeps it), and the expiry
 * of outputs the bridges have fetched.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { FailedPreconditionError, NotFoundError, quote } from '../../errors';
import type { Logger } from '../../logging';
import type { Frame, Job, JobSpec } from '../../model/frames';
import {
  blobSize,
  collectGarbage,
  manifestBlobName,
  outputPrefix,
  toStorageError,
  withoutQuery,
  type GarbageReport,
  type NodeCacheLimit,
  type StorageLockOptions,
} from '../../storage';
import { AdmissionGate } from './gate';

/**
 * The node cache limit of a capacity group: its own (`storage.nodeCache.groups`), else the
 * service's (`storage.nodeCache.maxBytes`), else a share of the node's disk. Pure.
 */
export function nodeCacheLimitOf(
  nodeCache: {
    readonly maxBytes: number;
    readonly fraction: number;
    readonly groups: Readonly<Record<string, number>>;
  },
  group: string,
): NodeCacheLimit {
  const bytes = nodeCache.groups[group] ?? nodeCache.maxBytes;
  return bytes > 0 ? { bytes } : { fraction: nodeCache.fraction };
}

/** Blob metadata key on an output: when a FetchOutput last streamed it to its end. */
export const FETCHED_METADATA = 'spillwayfetched';

/** What the lifecycle needs to know about jobs and frames. */
export interface LifecycleFrames {
  listJobs(): Job[];
  getFrame(frameId: string): Frame | undefined;
}

/** Options of `AssetLifecycle`. */
export interface AssetLifecycleOptions {
  readonly assets: ContainerClient;
  readonly outputs: ContainerClient;
  readonly logger: Logger;
  /** Scheduled collection. @default off */
  readonly gc?: { readonly intervalMs: number; readonly olderThanMs: number };
  /** Outputs of fully fetched frames are deleted this long after the last fetch; 0 keeps them. @default 0 */
  readonly outputsExpireAfterMs?: number;
  /** Timings of the storage locks (tests shorten them). @default the storage defaults */
  readonly lock?: Omit<StorageLockOptions, 'abortSignal'>;
}

/** What an output expiry sweep did. */
export interface OutputExpiryReport {
  /** Frames whose outputs were deleted. */
  readonly frames: number;
  readonly blobsDeleted: number;
  readonly bytesDeleted: number;
}

/** The lifecycle of assets and outputs in the service's containers. */
export class AssetLifecycle {
  private frames: LifecycleFrames | undefined;
  private readonly gate = new AdmissionGate();
  /** Manifests known to exist (cleared whenever a collection deletes). */
  private readonly present = new Set<string>();
  /** Content listed by each manifest read so far (manifests never change). */
  private readonly references = new Map<string, readonly string[]>();
  private running: { promise: Promise<GarbageReport>; since: Date } | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly abort = new AbortController();
  private sweeping: Promise<unknown> | undefined;

  constructor(private readonly options: AssetLifecycleOptions) {}

  /** Starts the scheduled collection and output expiry, once the frames are known. */
  attach(frames: LifecycleFrames): void {
    this.frames = frames;
    const { gc, outputsExpireAfterMs = 0, logger } = this.options;
    if (gc && gc.intervalMs > 0) {
      const t = setInterval(() => {
        if (this.running || this.sweeping) return;
        this.sweeping = this.collectGarbage({ olderThanMs: gc.olderThanMs })
          .then((r) =>
            logger.info('scheduled garbage collection', {
              manifestsDeleted: r.manifestsDeleted.length,
              contentDeleted: r.contentDeleted,
              bytesDeleted: r.bytesDeleted,
              manifestsPinned: r.manifestsPinned.length,
            }),
          )
          .catch((e: unknown) =>
            logger.warn('scheduled garbage collection failed', { error: (e as Error).message }),
          )
          .finally(() => (this.sweeping = undefined));
      }, gc.intervalMs);
      t.unref();
      this.timers.push(t);
    }
    if (outputsExpireAfterMs > 0) {
      const t = setInterval(
        () => {
          if (this.sweeping) return;
          this.sweeping = this.expireOutputs()
            .then((r) => {
              if (r.frames > 0) logger.info('fetched outputs expired', { ...r });
            })
            .catch((e: unknown) => logger.warn('output expiry failed', { error: (e as Error).message }))
            .finally(() => (this.sweeping = undefined));
        },
        Math.min(outputsExpireAfterMs, 3_600_000),
      );
      t.unref();
      this.timers.push(t);
    }
  }

  /** Manifests unfinished jobs use. */
  pinnedManifests(): string[] {
    return [
      ...new Set(
        (this.frames?.listJobs() ?? [])
          .filter((j) => j.state === 'active' && j.spec.assetManifestId)
          .map((j) => j.spec.assetManifestId!),
      ),
    ];
  }

  /**
   * Runs a submission of `job` through admission: a job naming a manifest is admitted only
   * while the manifest exists (NOT_FOUND otherwise, naming it and the container), and never
   * while a collection deletes manifests. Once admitted, the job (unfinished) keeps it.
   */
  async admitJob<T>(job: JobSpec, submit: () => Promise<T>): Promise<T> {
    const id = job.assetManifestId;
    if (!id) return submit();
    return this.gate.shared(async () => {
      if (!this.present.has(id)) {
        const size = await blobSize(this.options.assets.getBlobClient(manifestBlobName(id)));
        if (size === undefined) {
          throw new NotFoundError(
            `asset manifest ${quote(id)} is not in the container ${withoutQuery(this.options.assets.url)}: ` +
              'sync the assets into it first (spillway assets sync, or CommitManifest), or sync again if it was collected',
          );
        }
        this.present.add(id);
      }
      return submit();
    });
  }

  /**
   * Collects garbage by the rule of `storage.collectGarbage`, keeping the manifests of
   * unfinished jobs. One at a time: FAILED_PRECONDITION while another runs.
   */
  collectGarbage(options: {
    readonly olderThanMs: number;
    readonly dryRun?: boolean;
    readonly abortSignal?: AbortSignal;
  }): Promise<GarbageReport> {
    if (this.running) {
      return Promise.reject(
        new FailedPreconditionError(
          `a garbage collection is already running (since ${this.running.since.toISOString()}); try again when it ends`,
        ),
      );
    }
    const signals = [this.abort.signal, ...(options.abortSignal ? [options.abortSignal] : [])];
    const promise = collectGarbage(this.options.assets, {
      olderThanMs: options.olderThanMs,
      dryRun: options.dryRun ?? false,
      pinnedManifests: () => this.pinnedManifests(),
      // Manifest deletions run while no job is admitted; admissions after them ask storage again.
      exclusive: (fn) =>
        this.gate.exclusive(async () => {
          this.present.clear();
          return fn();
        }),
      manifestReferences: this.references,
      ...(this.options.lock ? { lock: this.options.lock } : {}),
      abortSignal: AbortSignal.any(signals),
    }).finally(() => {
      this.running = undefined;
    });
    this.running = { promise, since: new Date() };
    return promise;
  }

  /**
   * Records that an output of a frame was streamed to its end (by FetchOutput), when
   * outputs expire (otherwise nothing is written: outputs fetched while expiry was off
   * never expire, the safe side).
   */
  async markFetched(blobName: string): Promise<void> {
    if (!((this.options.outputsExpireAfterMs ?? 0) > 0)) return;
    const blob = this.options.outputs.getBlobClient(blobName);
    try {
      const props = await blob.getProperties();
      await blob.setMetadata({ ...props.metadata, [FETCHED_METADATA]: new Date().toISOString() });
    } catch (e) {
      throw toStorageError(e, 'mark fetched', blob.url);
    }
  }

  /**
   * Deletes the outputs (and `outputs.json`) of frames that succeeded and whose every output
   * was fetched, the last time more than `outputsExpireAfterMs` ago. Frames the service does
   * not know, or with an output not yet fetched, are left alone. Logs are kept.
   */
  async expireOutputs(now = new Date()): Promise<OutputExpiryReport> {
    const after = this.options.outputsExpireAfterMs ?? 0;
    const report = { frames: 0, blobsDeleted: 0, bytesDeleted: 0 };
    if (after <= 0 || !this.frames) return report;
    // Blobs of each frame's output prefix, with their fetch marks.
    const byFrame = new Map<string, { name: string; size: number; fetched?: number }[]>();
    const outputs = this.options.outputs;
    try {
      for await (const b of outputs.listBlobsFlat({
        includeMetadata: true,
        abortSignal: this.abort.signal,
      })) {
        const [jobId, frameId] = b.name.split('/');
        if (!jobId || !frameId || jobId === 'logs') continue;
        const key = `${jobId}/${frameId}`;
        const mark = b.metadata?.[FETCHED_METADATA];
        const list = byFrame.get(key) ?? [];
        list.push({
          name: b.name,
          size: b.properties.contentLength ?? 0,
          ...(mark ? { fetched: Date.parse(mark) } : {}),
        });
        byFrame.set(key, list);
      }
    } catch (e) {
      throw toStorageError(e, 'list', withoutQuery(outputs.url));
    }
    for (const [key, blobs] of byFrame) {
      const [jobId, frameId] = key.split('/') as [string, string];
      const frame = this.frames.getFrame(frameId);
      if (!frame || frame.jobId !== jobId || frame.state !== 'succeeded' || frame.outputs.length === 0)
        continue;
      const prefix = outputPrefix(jobId, frameId);
      const marks = frame.outputs.map((o) => blobs.find((b) => b.name === prefix + o.path)?.fetched);
      if (marks.some((m) => m === undefined || Number.isNaN(m))) continue;
      if (now.getTime() - Math.max(...(marks as number[])) < after) continue;
      for (const b of blobs) {
        try {
          await outputs.getBlobClient(b.name).delete({ abortSignal: this.abort.signal });
          report.blobsDeleted++;
          report.bytesDeleted += b.size;
        } catch (e) {
          if ((e as { statusCode?: number }).statusCode !== 404)
            throw toStorageError(e, 'delete', withoutQuery(outputs.url));
        }
      }
      report.frames++;
    }
    return report;
  }

  /** Stops the schedules and waits for a running collection or sweep. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.abort.abort(new Error('the service is stopping'));
    await Promise.allSettled([this.running?.promise, this.sweeping]);
  }
}
