/**
 * A job's input files into Blob Storage through the service's AssetService: hashed on the
 * bridge's host, only content the store lacks is sent, and the committed manifest's id goes
 * with the frames, so job preparation places the files on each node (where commands read
 * them from `$SPILLWAY_ASSETS_DIR`). Each job is synced once per run; a failed sync is
 * forgotten so the next attempt starts afresh.
 */
import type { BurstClient, Logger } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';

/** What to sync for one job. */
export interface AssetSyncRequest {
  /** The bridge's key of the job (syncs are memoised by it). */
  readonly key: string;
  /** A label for the manifest, e.g. the job's name. */
  readonly name: string;
  /** The folder on this host the files are below. */
  readonly localRoot: string;
  /** The files, relative to `localRoot` (`/` separated). */
  readonly files: readonly string[];
}

/** A synced job's manifest. */
export interface SyncedAssets {
  readonly manifestId: string;
  readonly fileCount: number;
  readonly totalBytes: number;
  /** Bytes this sync sent (content the store lacked). */
  readonly sentBytes: number;
}

/** Syncs jobs' inputs, once per job and run. */
export class AssetSyncer {
  private readonly synced = new Map<string, Promise<SyncedAssets>>();

  constructor(
    private readonly client: Pick<BurstClient, 'assets'>,
    private readonly options: { readonly logger?: Logger; readonly abortSignal?: AbortSignal } = {},
  ) {}

  /** The job's manifest: synced on the first call, the same answer after. */
  sync(request: AssetSyncRequest): Promise<SyncedAssets> {
    let pending = this.synced.get(request.key);
    if (!pending) {
      pending = this.run(request);
      pending.catch(() => this.synced.delete(request.key));
      this.synced.set(request.key, pending);
    }
    return pending;
  }

  /** Forgets jobs that are gone. */
  retain(live: ReadonlySet<string>): void {
    for (const key of this.synced.keys()) if (!live.has(key)) this.synced.delete(key);
  }

  private async run(r: AssetSyncRequest): Promise<SyncedAssets> {
    const signal = this.options.abortSignal;
    const sig = signal ? { abortSignal: signal } : {};
    const local = new Map<string, string>();
    const built = await storage.buildManifest(r.localRoot, {
      files: [...r.files],
      hashCacheFile: false,
      ...sig,
      onEntry: (e, localPath) => local.set(e.sha256, localPath),
    });
    const assets = this.client.assets;
    const plan = await assets.planAssetSync(built.manifest.files, sig);
    // Hashed once, by the manifest: the upload takes the hash instead of reading the file twice.
    for (const sha of plan.missingSha256)
      await assets.uploadContent(local.get(sha)!, { ...sig, sha256: sha });
    const committed = await assets.commitManifest(built.manifest.files, { ...sig, name: r.name });
    const out = {
      manifestId: committed.manifestId,
      fileCount: committed.fileCount,
      totalBytes: committed.totalBytes,
      sentBytes: plan.missingBytes,
    };
    this.options.logger?.info('synced assets', {
      job: r.key,
      manifest: out.manifestId,
      files: out.fileCount,
      bytes: out.totalBytes,
      sent: out.sentBytes,
    });
    return out;
  }
}
