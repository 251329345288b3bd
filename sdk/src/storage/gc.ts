/**
 * Content garbage collection of the assets container.
 *
 * The rule (docs/storage.md, "Lifecycle"): with a cutoff of (collection start, on the
 * storage service's clock) minus `olderThanMs` (see `collectionCutoff`),
 * 1. a manifest is deleted when it was last written (synced, committed, or found again by
 *    a sync: each refreshes it) before the cutoff and no unfinished job uses it;
 * 2. then a content blob is deleted when no remaining manifest lists it and it was written
 *    before the cutoff.
 * Manifests go before their content, so a manifest that exists always has all its content
 * (what a no-change resync relies on). Deletions run under the exclusive collection lock
 * (`locks.ts`): they wait for every running sync to end, and syncs that start meanwhile wait
 * for them. The pinned set is read while job admission is held (`exclusive`), so a job
 * admitted during the collection either finds its manifest (which is then kept, with its
 * content) or is refused because it is gone. Each deletion is conditional on the blob's
 * ETag: a blob rewritten since it was listed is kept.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { ValidationError } from '../errors';
import { toStorageError } from './errors';
import { CONTENT_PREFIX, contentHashOf, manifestBlobName, manifestIdOf, MANIFEST_PREFIX } from './layout';
import { acquireGcLock, listLocks, type StorageLockOptions } from './locks';
import { parseManifest, sha256Hex } from './manifest';
import { forEachLimited } from './pool';
import { sleep } from '../retry';

/** A manifest blob as listed. */
export interface ManifestBlobInfo {
  readonly id: string;
  readonly lastModified: Date;
  readonly sizeBytes: number;
  readonly etag?: string;
}

/** A content blob as listed. */
export interface ContentBlobInfo {
  readonly sha256: string;
  readonly lastModified: Date;
  readonly sizeBytes: number;
  readonly etag?: string;
}

/** What a collection would delete. */
export interface GarbagePlan {
  readonly deleteManifests: readonly ManifestBlobInfo[];
  /** Old enough, but used by an unfinished job: kept. */
  readonly pinned: readonly string[];
  readonly deleteContent: readonly ContentBlobInfo[];
  /** Content blobs that stay. */
  readonly contentKept: number;
  /** Why no content is deleted at all, when that is so (a kept manifest could not be read). */
  readonly contentSkipped?: string;
}

/** Input of `planGarbage`. */
export interface GarbagePlanInput {
  readonly manifests: readonly ManifestBlobInfo[];
  /** Content hashes each manifest lists; a kept manifest missing here makes content deletion unsafe. */
  readonly references: ReadonlyMap<string, readonly string[]>;
  readonly content: readonly ContentBlobInfo[];
  /** Manifests unfinished jobs use. */
  readonly pinned: ReadonlySet<string>;
  /** Blobs last written before this are old enough. */
  readonly cutoff: Date;
}

/** Applies the collection rule to listings. Pure. */
export function planGarbage(input: GarbagePlanInput): GarbagePlan {
  const cutoff = input.cutoff.getTime();
  const deleteManifests: ManifestBlobInfo[] = [];
  const pinned: string[] = [];
  const kept: ManifestBlobInfo[] = [];
  for (const m of input.manifests) {
    const old = m.lastModified.getTime() < cutoff;
    if (old && !input.pinned.has(m.id)) deleteManifests.push(m);
    else {
      if (old) pinned.push(m.id);
      kept.push(m);
    }
  }
  const referenced = new Set<string>();
  const unreadable = kept.filter((m) => !input.references.has(m.id)).map((m) => m.id);
  // A pinned manifest that is not (or no longer) listed still keeps what it is known to list.
  for (const id of [...kept.map((m) => m.id), ...input.pinned]) {
    for (const sha of input.references.get(id) ?? []) referenced.add(sha);
  }
  if (unreadable.length > 0) {
    return {
      deleteManifests,
      pinned,
      deleteContent: [],
      contentKept: input.content.length,
      contentSkipped: `manifest ${unreadable[0]} could not be read${unreadable.length > 1 ? ` (and ${unreadable.length - 1} more)` : ''}, so the content it lists is unknown; no content was deleted`,
    };
  }
  const deleteContent = input.content.filter(
    (c) => !referenced.has(c.sha256) && c.lastModified.getTime() < cutoff,
  );
  return { deleteManifests, pinned, deleteContent, contentKept: input.content.length - deleteContent.length };
}

/** Options of `collectGarbage`. */
export interface CollectGarbageOptions {
  /**
   * Blobs last written at least this long before the collection started may go; 0 means
   * all written before it started. Counted in whole seconds, as storage times are (see
   * `collectionCutoff`).
   */
  readonly olderThanMs: number;
  /** Report what would be deleted, delete nothing, take no lock. @default false */
  readonly dryRun?: boolean;
  /**
   * The manifests unfinished jobs use (they and their content stay). Called inside
   * `exclusive`, just before manifests are deleted. @default none
   */
  readonly pinnedManifests?: () => Iterable<string> | Promise<Iterable<string>>;
  /**
   * Runs the manifest deletions while no job can be admitted (the service's admission
   * gate). @default runs them as they are
   */
  readonly exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Content hashes per manifest id, kept across collections (manifests never change). @default a new map */
  readonly manifestReferences?: Map<string, readonly string[]>;
  /** Deletions and reads at once. @default 16 */
  readonly concurrency?: number;
  /** Timings of the collection lock (how long to wait for running syncs). */
  readonly lock?: Omit<StorageLockOptions, 'abortSignal'>;
  /** Called after each deleted blob. */
  readonly onDeleted?: (blobName: string, sizeBytes: number) => void;
  readonly abortSignal?: AbortSignal;
}

/** What a collection did (or, with `dryRun`, would do). */
export interface GarbageReport {
  readonly dryRun: boolean;
  /** Blobs last written before this were old enough. */
  readonly cutoff: Date;
  /** Ids of the manifests deleted. */
  readonly manifestsDeleted: readonly string[];
  /** Manifests that stay. */
  readonly manifestsKept: number;
  /** Old enough but used by an unfinished job. */
  readonly manifestsPinned: readonly string[];
  /** Content blobs deleted. */
  readonly contentDeleted: number;
  /** Content blobs that stay. */
  readonly contentKept: number;
  /** Bytes of the deleted blobs (manifests and content). */
  readonly bytesDeleted: number;
  /** Locks left by processes that died, removed. */
  readonly staleLocksRemoved: number;
  /** Why no content was deleted, when a kept manifest could not be read. */
  readonly contentSkipped?: string;
  readonly durationMs: number;
}

/** The storage service's clock, from the Date of a request. */
async function serviceNow(container: ContainerClient, abortSignal?: AbortSignal): Promise<Date> {
  try {
    const res = await container.getProperties({ abortSignal });
    return res.date ?? new Date();
  } catch (e) {
    throw toStorageError(e, 'get properties of', container.url);
  }
}

/** Storage times (`Date`, `Last-Modified`) are HTTP dates: whole seconds, rounded down. */
const STORAGE_TICK_MS = 1000;

/**
 * When the collection starts and its cutoff, on the storage service's clock, such that a
 * listed Last-Modified compares with the cutoff exactly. Storage times are whole seconds
 * (rounded down): a blob written in the second the collection was asked for carries the
 * same time as one written a moment after. So the collection starts at the next whole
 * second of the storage clock, the cutoff is that start minus `olderThanMs` in whole
 * seconds, and while the cutoff is not yet past on the storage clock (an age under a
 * second: `--older-than 0s`) it waits until it is. Then every blob written before the
 * cutoff is listed as older than it (a manifest committed before the collection was asked
 * for goes, even with `0s`), and every blob written after it carries a later time.
 * `now` is the storage clock when it was first read.
 */
export async function collectionCutoff(
  clock: () => Promise<Date>,
  olderThanMs: number,
  abortSignal?: AbortSignal,
): Promise<{ readonly now: Date; readonly start: Date; readonly cutoff: Date }> {
  const now = await clock();
  const start = Math.floor(now.getTime() / STORAGE_TICK_MS) * STORAGE_TICK_MS + STORAGE_TICK_MS;
  const cutoff = start - Math.floor(olderThanMs / STORAGE_TICK_MS) * STORAGE_TICK_MS;
  for (let t = now.getTime(); t < cutoff; t = (await clock()).getTime()) {
    await sleep(Math.min(250, Math.max(25, cutoff - t)), abortSignal);
    abortSignal?.throwIfAborted();
  }
  return { now, start: new Date(start), cutoff: new Date(cutoff) };
}

async function listManifests(
  container: ContainerClient,
  abortSignal?: AbortSignal,
): Promise<ManifestBlobInfo[]> {
  const out: ManifestBlobInfo[] = [];
  try {
    for await (const b of container.listBlobsFlat({ prefix: MANIFEST_PREFIX, abortSignal })) {
      const id = manifestIdOf(b.name);
      if (!id || !b.properties.lastModified) continue;
      out.push({
        id,
        lastModified: b.properties.lastModified,
        sizeBytes: b.properties.contentLength ?? 0,
        ...(b.properties.etag ? { etag: b.properties.etag } : {}),
      });
    }
  } catch (e) {
    throw toStorageError(e, 'list', `${container.url}/${MANIFEST_PREFIX}`);
  }
  return out;
}

async function listContentBlobs(
  container: ContainerClient,
  abortSignal?: AbortSignal,
): Promise<ContentBlobInfo[]> {
  const out: ContentBlobInfo[] = [];
  try {
    for await (const page of container
      .listBlobsFlat({ prefix: CONTENT_PREFIX, abortSignal })
      .byPage({ maxPageSize: 5000 })) {
      for (const b of page.segment.blobItems) {
        const sha256 = contentHashOf(b.name);
        if (!sha256 || !b.properties.lastModified) continue;
        out.push({
          sha256,
          lastModified: b.properties.lastModified,
          sizeBytes: b.properties.contentLength ?? 0,
          ...(b.properties.etag ? { etag: b.properties.etag } : {}),
        });
      }
    }
  } catch (e) {
    throw toStorageError(e, 'list', `${container.url}/${CONTENT_PREFIX}`);
  }
  return out;
}

/** Reads the manifests not yet in `refs` (content hashes each lists; unreadable ones stay out). */
async function readReferences(
  container: ContainerClient,
  manifests: readonly ManifestBlobInfo[],
  refs: Map<string, readonly string[]>,
  concurrency: number,
  abortSignal?: AbortSignal,
): Promise<void> {
  await forEachLimited(
    manifests.filter((m) => !refs.has(m.id)),
    concurrency,
    async (m) => {
      const blob = container.getBlobClient(manifestBlobName(m.id));
      let text: string;
      try {
        text = (await blob.downloadToBuffer(undefined, undefined, { abortSignal })).toString('utf8');
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return;
        throw toStorageError(e, 'download', blob.url);
      }
      if (sha256Hex(text) !== m.id) return;
      try {
        refs.set(m.id, [...new Set(parseManifest(text).files.map((f) => f.sha256))]);
      } catch {
        // unreadable: planGarbage keeps all content while it stays
      }
    },
    abortSignal,
  );
}

/** Deletes a blob if it is still the one listed; resolves to whether it was deleted by this call. */
async function deleteIfUnchanged(
  container: ContainerClient,
  name: string,
  etag: string | undefined,
  abortSignal?: AbortSignal,
): Promise<boolean> {
  const blob = container.getBlobClient(name);
  try {
    await blob.delete({ ...(etag ? { conditions: { ifMatch: etag } } : {}), abortSignal });
    return true;
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 404 || status === 412) return false; // gone already, or rewritten since: kept
    throw toStorageError(e, 'delete', blob.url);
  }
}

/**
 * Collects garbage in an assets container by the rule above: unused manifests older than
 * `olderThanMs`, then content no remaining manifest lists. Waits for running syncs (the
 * collection lock); with `dryRun`, only reports.
 */
export async function collectGarbage(
  container: ContainerClient,
  options: CollectGarbageOptions,
): Promise<GarbageReport> {
  const started = Date.now();
  const { olderThanMs } = options;
  if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new ValidationError('olderThan', olderThanMs, 'must be a duration of 0 or more');
  }
  const concurrency = options.concurrency ?? 16;
  const signal = options.abortSignal;
  const refs = options.manifestReferences ?? new Map<string, readonly string[]>();
  const exclusive = options.exclusive ?? (<T>(fn: () => Promise<T>) => fn());
  const dryRun = options.dryRun ?? false;
  const { now, cutoff } = await collectionCutoff(() => serviceNow(container, signal), olderThanMs, signal);

  // Read every manifest before taking the lock (the long part), then again under it for
  // whatever was committed meanwhile: syncs are not held up while manifests are read.
  await readReferences(container, await listManifests(container, signal), refs, concurrency, signal);
  const lock = dryRun ? undefined : await acquireGcLock(container, { ...options.lock, abortSignal: signal });
  try {
    const manifests = await listManifests(container, signal);
    await readReferences(container, manifests, refs, concurrency, signal);
    const content = await listContentBlobs(container, signal);
    let bytesDeleted = 0;
    const deleted: string[] = [];
    const plan = await exclusive(async () => {
      const pinned = new Set(options.pinnedManifests ? await options.pinnedManifests() : []);
      const p = planGarbage({ manifests, references: refs, content, pinned, cutoff });
      if (dryRun) return p;
      await forEachLimited(
        p.deleteManifests,
        concurrency,
        async (m) => {
          if (lock && !lock.healthy()) throw new Error('the collection lock could not be renewed; stopped');
          if (await deleteIfUnchanged(container, manifestBlobName(m.id), m.etag, signal)) {
            deleted.push(m.id);
            bytesDeleted += m.sizeBytes;
            options.onDeleted?.(manifestBlobName(m.id), m.sizeBytes);
          }
        },
        signal,
      );
      return p;
    });
    // A manifest rewritten since it was listed was kept: keep its content too.
    const keptAnyway = plan.deleteManifests.filter((m) => !deleted.includes(m.id));
    const stillListed = new Set(keptAnyway.flatMap((m) => refs.get(m.id) ?? []));
    const contentToDelete = plan.deleteContent.filter((c) => !stillListed.has(c.sha256));
    let contentDeleted = 0;
    if (dryRun) {
      bytesDeleted =
        plan.deleteManifests.reduce((n, m) => n + m.sizeBytes, 0) +
        plan.deleteContent.reduce((n, c) => n + c.sizeBytes, 0);
      contentDeleted = plan.deleteContent.length;
    } else {
      await forEachLimited(
        contentToDelete,
        concurrency,
        async (c) => {
          if (lock && !lock.healthy()) throw new Error('the collection lock could not be renewed; stopped');
          const name = `${CONTENT_PREFIX}${c.sha256}`;
          if (await deleteIfUnchanged(container, name, c.etag, signal)) {
            contentDeleted++;
            bytesDeleted += c.sizeBytes;
            options.onDeleted?.(name, c.sizeBytes);
          }
        },
        signal,
      );
      for (const id of deleted) refs.delete(id);
    }
    // Locks of processes that died: tidy them away (they are ignored anyway).
    let staleLocksRemoved = 0;
    if (!dryRun) {
      const staleAfter = options.lock?.staleAfterMs ?? 5 * 60_000;
      for (const l of await listLocks(container, signal)) {
        if (now.getTime() - l.lastModified.getTime() > 2 * staleAfter) {
          if (await deleteIfUnchanged(container, l.name, undefined, signal)) staleLocksRemoved++;
        }
      }
    }
    return {
      dryRun,
      cutoff,
      manifestsDeleted: dryRun ? plan.deleteManifests.map((m) => m.id) : deleted,
      manifestsKept: manifests.length - (dryRun ? plan.deleteManifests.length : deleted.length),
      manifestsPinned: plan.pinned,
      contentDeleted,
      contentKept: content.length - contentDeleted,
      bytesDeleted,
      staleLocksRemoved,
      ...(plan.contentSkipped ? { contentSkipped: plan.contentSkipped } : {}),
      durationMs: Date.now() - started,
    };
  } finally {
    await lock?.release();
  }
}

/**
 * Parses a duration as written on a command line or in configuration: a number with a unit
 * (`ms`, `s`, `m`, `h`, `d`, `w`), or several (`1h30m`); `0` alone is zero. Errors name
 * `field` and quote the text.
 */
export function parseDurationText(text: string, field = 'duration'): number {
  const units: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
  };
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * units[m[2]!]!;
    matched = re.lastIndex;
  }
  if (t.length === 0 || matched !== t.length || !Number.isFinite(total)) {
    throw new ValidationError(field, text, 'must be a duration such as 0s, 90m, 12h, 30d or 1h30m');
  }
  return Math.round(total);
}
