/**
 * Content-addressed asset sync: every distinct content is one blob `content/<sha256>`, and
 * every submission one manifest blob `manifests/<id>.json`. A resync uploads only content
 * the container lacks. Content blobs appear only when complete: small files are one Put
 * Blob, large ones staged blocks made visible by a single Put Block List.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BlobClient, ContainerClient } from '@azure/storage-blob';
import { ValidationError } from '../errors';
import { blobSize, IntegrityError, isAlreadyExists, toStorageError, withoutQuery } from './errors';
import {
  buildManifest,
  defaultHashCacheFile,
  parseManifest,
  sha256Hex,
  type BuildManifestOptions,
  type BuiltManifest,
} from './manifest';
import { forEachLimited } from './pool';
import { acquireSyncLock, type HeldLock, type StorageLockOptions } from './locks';

import { CONTENT_PREFIX, contentBlobName, manifestBlobName } from './layout';

/** A progress report of a sync. */
export interface SyncProgress {
  readonly phase: 'hashing' | 'checking' | 'uploading' | 'done';
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** Bytes per second since the phase began. */
  readonly bytesPerSecond: number;
  /** Estimated time left in the phase, when there is a rate to go by. */
  readonly etaMs: number | undefined;
}

/** How the sync learns which content the container already has. */
export type ExistenceCheck = 'auto' | 'list' | 'head';

/** Options of `syncAssets`. */
export interface SyncAssetsOptions extends BuildManifestOptions {
  /** The container to sync into (with a credential that can read, list and write). */
  readonly containerClient: ContainerClient;
  /** Create the container when missing. @default true */
  readonly createContainer?: boolean;
  /** Content blobs uploaded at once. @default 16 */
  readonly uploadConcurrency?: number;
  /** Blocks of one large file staged at once. @default 4 */
  readonly blockConcurrency?: number;
  /** Block size for large files. @default 4 MiB */
  readonly blockSizeBytes?: number;
  /** Files up to this size go as one Put Blob. @default 4 MiB */
  readonly singleShotLimitBytes?: number;
  /**
   * `list`: one listing of `content/` (paged, 5,000 per page); `head`: one HEAD per distinct
   * content; `auto`: first what committed manifests prove (this one: nothing else to check;
   * the last ones synced from here to this container), then a listing bounded to cost at
   * most one page per 32 contents still unknown, then HEADs for what it did not reach.
   * @default 'auto'
   */
  readonly existenceCheck?: ExistenceCheck;
  /** Progress, at most every `progressIntervalMs` and once at the end of each phase. */
  readonly onProgress?: (progress: SyncProgress) => void;
  /** @default 250 */
  readonly progressIntervalMs?: number;
  /**
   * Once this many bytes (or 1,000 files) had to be hashed, find what the container has and
   * start uploading while the rest is hashed (only with `existenceCheck: 'auto'`, no `verify`).
   * @default 64 MiB
   */
  readonly overlapAfterBytes?: number;
  /**
   * The sync lock (`locks/sync-*`) held from the first existence check until the manifest
   * is written, so that garbage collection never deletes content this sync relies on (it
   * waits for the sync; a sync waits for a running collection). `false` takes none: only
   * for containers no collection ever runs on. @default {} (default timings)
   */
  readonly lock?: false | Omit<StorageLockOptions, 'abortSignal'>;
}

/** What a sync did. */
export interface SyncResult {
  readonly manifestId: string;
  readonly manifestBlobName: string;
  readonly built: BuiltManifest;
  /** Content blobs written in this run. */
  readonly filesUploaded: number;
  /** Content bytes sent in this run (blocks already staged by an interrupted run are not resent). */
  readonly bytesUploaded: number;
  /** Manifest files whose content was already there (or is a duplicate within the manifest). */
  readonly filesSkipped: number;
  readonly bytesSkipped: number;
  /** Whether the manifest blob was written now. */
  readonly manifestUploaded: boolean;
  /**
   * How existence was checked: `manifest` (this manifest was already committed: one HEAD),
   * `list` or `head` (after taking what earlier manifests of this container prove).
   */
  readonly existenceCheck: 'manifest' | 'list' | 'head';
  readonly durationMs: number;
  /** Time spent per phase: building the manifest (hashing), finding what exists, uploading. */
  /** Content uploads started by the early check, while files were still being hashed. */
  readonly uploadsStartedEarly: number;
  readonly phaseMs: { readonly hashing: number; readonly checking: number; readonly uploading: number };
}

function positive(value: number | undefined, field: string, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new ValidationError(field, value, 'must be a positive integer');
  return v;
}

/**
 * The content already committed in the container (hash -> size), by one paged listing
 * (5,000 names per page). With `maxNames`, stops after the page that passes it and reports
 * `complete: false`.
 */
export async function listContent(
  container: ContainerClient,
  abortSignal?: AbortSignal,
  maxNames = Infinity,
): Promise<Map<string, number> & { complete?: boolean }> {
  const have: Map<string, number> & { complete?: boolean } = new Map<string, number>();
  have.complete = true;
  try {
    for await (const page of container
      .listBlobsFlat({ prefix: CONTENT_PREFIX, abortSignal })
      .byPage({ maxPageSize: 5000 })) {
      for (const b of page.segment.blobItems)
        have.set(b.name.slice(CONTENT_PREFIX.length), b.properties.contentLength ?? -1);
      if (have.size >= maxNames && page.continuationToken) {
        have.complete = false;
        break;
      }
    }
  } catch (e) {
    throw toStorageError(e, 'list', `${container.url}/${CONTENT_PREFIX}`);
  }
  return have;
}

/** Which of `hashes` are committed in the container (hash -> size), by one HEAD each (bounded concurrency). */
export async function headContent(
  container: ContainerClient,
  hashes: readonly string[],
  options: { readonly concurrency?: number; readonly abortSignal?: AbortSignal } = {},
): Promise<Map<string, number>> {
  const have = new Map<string, number>();
  await forEachLimited(
    hashes,
    options.concurrency ?? 32,
    async (sha) => {
      const size = await blobSize(container.getBlobClient(contentBlobName(sha)), options.abortSignal);
      if (size !== undefined) have.set(sha, size);
    },
    options.abortSignal,
  );
  return have;
}

/**
 * Which of `hashes` the container has (hash -> size), at the fewest requests: a listing of
 * the content while that costs fewer requests than one HEAD per content would (a page is
 * 5,000 names, so at most one page per 32 contents), then a HEAD for each it did not reach.
 */
export async function findContent(
  container: ContainerClient,
  hashes: readonly string[],
  abortSignal?: AbortSignal,
): Promise<{ readonly sizes: Map<string, number>; readonly by: 'list' | 'head' }> {
  if (hashes.length <= 16)
    return { sizes: await headContent(container, hashes, { abortSignal }), by: 'head' };
  const listed = await listContent(container, abortSignal, (hashes.length * 5000) / 32);
  const sizes = new Map<string, number>();
  for (const sha of hashes) {
    const size = listed.get(sha);
    if (size !== undefined) sizes.set(sha, size);
  }
  if (!listed.complete) {
    const rest = hashes.filter((sha) => !sizes.has(sha));
    for (const [sha, size] of await headContent(container, rest, { abortSignal })) sizes.set(sha, size);
  }
  return { sizes, by: 'list' };
}

/** A deterministic block id: the same block of the same content gets the same id in every run. */
function blockId(blockSize: number, index: number): string {
  return Buffer.from(
    `spw-${blockSize.toString(16).padStart(10, '0')}-${index.toString().padStart(7, '0')}`,
  ).toString('base64');
}

interface UploadContext {
  readonly container: ContainerClient;
  readonly blockSize: number;
  readonly singleShot: number;
  readonly blockConcurrency: number;
  readonly abortSignal: AbortSignal | undefined;
  readonly onBytes: (n: number) => void;
}

/**
 * Uploads one content blob from `file`, checking that the bytes read hash to `sha256`
 * (a file changed since it was hashed is refused, and nothing becomes visible). Resolves
 * to the bytes sent; 0 when someone else committed it meanwhile.
 */
async function uploadContent(
  ctx: UploadContext,
  sha256: string,
  sizeBytes: number,
  file: string,
  /** The bytes that hashed to `sha256`, when still in memory: sent as they are. */
  content?: Buffer,
): Promise<number> {
  const blob = ctx.container.getBlockBlobClient(contentBlobName(sha256));
  const headers = { blobContentType: 'application/octet-stream' };
  const changed = (): IntegrityError =>
    new IntegrityError(
      `${file} changed while it was being synced (expected sha256 ${sha256}); sync again`,
      file,
    );
  if (sizeBytes <= ctx.singleShot) {
    // Bytes read again from the file are hashed again: what is stored under a hash is always
    // what hashes to it, whatever happened to the file since.
    const buf = content ?? (await fs.promises.readFile(file, { signal: ctx.abortSignal }));
    if (buf.length !== sizeBytes || (!content && createHash('sha256').update(buf).digest('hex') !== sha256))
      throw changed();
    const md5 = createHash('md5').update(buf).digest();
    try {
      // The service checks the MD5 against what it received; If-None-Match: * keeps a
      // committed blob as it is (content-addressed: same name, same bytes).
      const res = await blob.upload(buf, buf.length, {
        blobHTTPHeaders: { ...headers, blobContentMD5: md5 },
        conditions: { ifNoneMatch: '*' },
        abortSignal: ctx.abortSignal,
      });
      if (res.contentMD5 && !Buffer.from(res.contentMD5).equals(md5)) {
        throw new IntegrityError(`the service stored different bytes for ${blob.name}`, blob.name);
      }
    } catch (e) {
      if (isAlreadyExists(e)) return 0;
      throw toStorageError(e, 'upload', blob.url);
    }
    ctx.onBytes(buf.length);
    return buf.length;
  }

  // Large file: staged blocks (each checked by the service against its MD5), reused from an
  // interrupted run when already staged, then one commit. Uncommitted blocks are invisible.
  const staged = new Map<string, number>();
  try {
    const list = await blob.getBlockList('uncommitted', { abortSignal: ctx.abortSignal });
    for (const b of list.uncommittedBlocks ?? []) staged.set(b.name, b.size);
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404)
      throw toStorageError(e, 'get block list', blob.url);
  }
  const count = Math.ceil(sizeBytes / ctx.blockSize);
  const ids: string[] = [];
  const hash = createHash('sha256');
  const fh = await fs.promises.open(file, 'r');
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    for (let i = 0; i < count; i++) {
      ctx.abortSignal?.throwIfAborted();
      if (failure) break;
      const len = Math.min(ctx.blockSize, sizeBytes - i * ctx.blockSize);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, i * ctx.blockSize);
      if (bytesRead !== len) throw changed();
      hash.update(buf);
      const id = blockId(ctx.blockSize, i);
      ids.push(id);
      if (staged.get(id) === len) continue;
      while (inFlight.size >= ctx.blockConcurrency) await Promise.race(inFlight);
      const md5 = createHash('md5').update(buf).digest();
      const p = blob
        .stageBlock(id, buf, len, { transactionalContentMD5: md5, abortSignal: ctx.abortSignal })
        .then(
          () => {
            sent += len;
            ctx.onBytes(len);
          },
          (e: unknown) => {
            failure ??= toStorageError(e, 'stage block of', blob.url);
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    ctx.abortSignal?.throwIfAborted();
    if (hash.digest('hex') !== sha256) throw changed();
  } finally {
    await Promise.allSettled(inFlight);
    await fh.close();
  }
  try {
    await blob.commitBlockList(ids, {
      blobHTTPHeaders: headers,
      conditions: { ifNoneMatch: '*' },
      abortSignal: ctx.abortSignal,
    });
  } catch (e) {
    if (isAlreadyExists(e)) return sent;
    throw toStorageError(e, 'commit', blob.url);
  }
  return sent;
}

/** Cold hashing beyond this starts the early existence check and uploads. */
const EARLY_COLD_BYTES = 64 * 1048576;
/** Hashed bytes kept in memory for their upload, at most (see `hold` in `runSync`). */
const HELD_CONTENT_BYTES = 64 * 1048576;

/** Content to upload: where to read it, or the bytes themselves while held. */
interface PendingContent {
  readonly sizeBytes: number;
  readonly file: string;
  content?: Buffer;
}
const EARLY_COLD_FILES = 1000;
/** The early listing gives up (and the normal check runs) beyond this many content names. */
const EARLY_LIST_LIMIT = 50_000;

/** At most `n` of the functions given run at once. */
function semaphore(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    while (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

async function exists(blob: BlobClient, abortSignal: AbortSignal): Promise<boolean> {
  try {
    return await blob.exists({ abortSignal });
  } catch (e) {
    throw toStorageError(e, 'HEAD', blob.url);
  }
}

/** Blob metadata key recording when a manifest was last found again by a sync or a commit. */
export const TOUCHED_METADATA = 'spillwaytouched';

/**
 * Marks a committed manifest as used now (its Last-Modified, which garbage collection goes
 * by, moves to now), keeping its other metadata. A manifest deleted meanwhile is left gone.
 */
export async function touchManifest(blob: BlobClient, abortSignal?: AbortSignal): Promise<void> {
  try {
    const props = await blob.getProperties({ abortSignal });
    await blob.setMetadata(
      { ...props.metadata, [TOUCHED_METADATA]: new Date().toISOString() },
      { conditions: { ifMatch: props.etag }, abortSignal },
    );
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 412) return; // touched by someone else meanwhile: as good
    throw toStorageError(e, 'touch', blob.url);
  }
}

/** The content hashes a committed manifest lists; empty when it is gone or unreadable. */
async function manifestContent(
  container: ContainerClient,
  id: string,
  abortSignal: AbortSignal,
): Promise<string[]> {
  const blob = container.getBlobClient(manifestBlobName(id));
  let text: string;
  try {
    text = (await blob.downloadToBuffer(undefined, undefined, { abortSignal })).toString('utf8');
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return [];
    throw toStorageError(e, 'download', blob.url);
  }
  if (sha256Hex(text) !== id) return [];
  try {
    return parseManifest(text).files.map((f) => f.sha256);
  } catch {
    return [];
  }
}

/** The last manifests synced to each container from this machine (kept beside the hash cache). */
function syncState(
  options: SyncAssetsOptions,
  root: string,
): { previous(url: string): string[]; record(url: string, id: string): void } {
  const cache =
    options.hashCacheFile === false ? undefined : (options.hashCacheFile ?? defaultHashCacheFile(root));
  const file = cache ? `${cache}.synced.json` : undefined;
  const key = (url: string): string => withoutQuery(url);
  const load = (): Record<string, string[]> => {
    if (!file) return {};
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string[]>;
    } catch {
      return {};
    }
  };
  return {
    previous: (url) => (load()[key(url)] ?? []).filter((id) => /^[0-9a-f]{64}$/.test(id)).slice(0, 3),
    record: (url, id) => {
      if (!file) return;
      const all = load();
      all[key(url)] = [id, ...(all[key(url)] ?? []).filter((x) => x !== id)].slice(0, 5);
      const entries = Object.entries(all).slice(-50);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(entries)));
      fs.renameSync(tmp, file);
    },
  };
}

/**
 * Syncs a tree (or file list) into `containerClient`: builds the manifest (hash cache
 * honoured unless `verify`), finds the content the container lacks, uploads only that
 * with bounded concurrency, and writes the manifest blob. Rerunning after an interruption
 * (abort, crash) uploads only what is still missing, and resends no staged block.
 */
export async function syncAssets(root: string, options: SyncAssetsOptions): Promise<SyncResult> {
  const uploadConcurrency = positive(options.uploadConcurrency, 'uploadConcurrency', 16);
  const blockConcurrency = positive(options.blockConcurrency, 'blockConcurrency', 4);
  const blockSize = positive(options.blockSizeBytes, 'blockSizeBytes', 4 << 20);
  const singleShot = positive(options.singleShotLimitBytes, 'singleShotLimitBytes', 4 << 20);
  if (blockSize > 4000 * 1048576)
    throw new ValidationError('blockSizeBytes', blockSize, 'must be at most 4000 MiB');
  const mode = options.existenceCheck ?? 'auto';
  if (!['auto', 'list', 'head'].includes(mode)) {
    throw new ValidationError('existenceCheck', mode, 'must be "auto", "list" or "head"');
  }
  // One internal signal for the many concurrent requests (each adds an abort listener).
  const internal = new AbortController();
  setMaxListeners(0, internal.signal);
  const forward = (): void => internal.abort(options.abortSignal!.reason);
  if (options.abortSignal?.aborted) forward();
  else options.abortSignal?.addEventListener('abort', forward, { once: true });
  const session: { lock?: Promise<HeldLock> } = {};
  try {
    return await runSync(root, options, internal.signal, session, {
      uploadConcurrency,
      blockConcurrency,
      blockSize,
      singleShot,
      mode,
    });
  } finally {
    options.abortSignal?.removeEventListener('abort', forward);
    await session.lock?.then(
      (l) => l.release(),
      () => undefined,
    );
  }
}

async function runSync(
  root: string,
  options: SyncAssetsOptions,
  signal: AbortSignal,
  session: { lock?: Promise<HeldLock> },
  limits: {
    uploadConcurrency: number;
    blockConcurrency: number;
    blockSize: number;
    singleShot: number;
    mode: ExistenceCheck;
  },
): Promise<SyncResult> {
  const started = Date.now();
  const { uploadConcurrency, blockConcurrency, blockSize, singleShot, mode } = limits;
  const container = options.containerClient;
  const interval = options.progressIntervalMs ?? 250;

  let phaseStart = Date.now();
  let lastEmit = 0;
  const emit = (p: Omit<SyncProgress, 'bytesPerSecond' | 'etaMs'>, force = false): void => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!force && now - lastEmit < interval) return;
    lastEmit = now;
    const secs = Math.max(1e-3, (now - phaseStart) / 1000);
    const rate = p.bytesDone / secs;
    const eta = rate > 0 ? ((p.bytesTotal - p.bytesDone) / rate) * 1000 : undefined;
    options.onProgress({ ...p, bytesPerSecond: rate, etaMs: eta });
  };

  // Uploads go through one limiter, whether started while hashing or after.
  const limit = semaphore(uploadConcurrency);
  let failure: { error: unknown } | undefined;
  const uploads = new Map<string, Promise<void>>();
  let filesUploaded = 0;
  let bytesUploaded = 0;
  let filesDone = 0;
  let uploadTotal = 0;
  let uploadBytesTotal = 0;
  const ctx: UploadContext = {
    container,
    blockSize,
    singleShot,
    blockConcurrency,
    abortSignal: signal,
    onBytes: (n) => {
      bytesUploaded += n;
      emit({
        phase: 'uploading',
        filesDone,
        filesTotal: uploadTotal,
        bytesDone: bytesUploaded,
        bytesTotal: uploadBytesTotal,
      });
    },
  };
  // Bytes hashed while reading a file whole wait for their upload in memory, up to a budget;
  // beyond it a file is read again when its turn comes.
  let heldBytes = 0;
  const hold = (content: Buffer | undefined): Buffer | undefined => {
    if (!content || heldBytes + content.length > HELD_CONTENT_BYTES) return undefined;
    heldBytes += content.length;
    return content;
  };
  const release = (m: PendingContent): void => {
    if (m.content) heldBytes -= m.content.length;
    m.content = undefined;
  };
  const uploadOne = (sha: string, m: PendingContent): Promise<void> => {
    uploadTotal++;
    uploadBytesTotal += m.sizeBytes;
    const p = limit(async () => {
      if (failure) return;
      signal.throwIfAborted();
      await uploadContent(ctx, sha, m.sizeBytes, m.file, m.content);
      filesUploaded++;
      filesDone++;
    })
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => release(m));
    uploads.set(sha, p);
    return p;
  };
  // Before anything is taken as present: the container, then the sync lock (a garbage
  // collection that deletes waits for this sync, or this sync for it).
  let containerReady: Promise<void> | undefined;
  const ensureContainer = (): Promise<void> =>
    (containerReady ??= (
      (options.createContainer ?? true)
        ? container.createIfNotExists({ abortSignal: signal }).then(
            () => undefined,
            (e: unknown) => {
              throw toStorageError(e, 'create container', container.url);
            },
          )
        : Promise.resolve()
    ).then(async () => {
      if (options.lock === false) return;
      session.lock = acquireSyncLock(container, { ...options.lock, abortSignal: signal });
      await session.lock;
    }));
  const state = syncState(options, root);

  // A cold sync (much to hash) learns early what the container has (a bounded listing and
  // the previous manifests) and uploads missing content while the rest is being hashed.
  const earlyEnabled = mode === 'auto' && !options.verify;
  let early: Promise<void> | undefined;
  let earlyHave: (Set<string> & { complete?: boolean }) | undefined;
  const pendingEarly: [string, PendingContent][] = [];
  let uploadsStartedEarly = 0;
  let coldFiles = 0;
  let coldBytes = 0;
  const drainEarly = (): void => {
    const batch = pendingEarly.splice(0);
    for (const [sha, m] of batch) {
      if (earlyHave?.complete && !earlyHave.has(sha) && !uploads.has(sha) && !failure) {
        uploadsStartedEarly++;
        void uploadOne(sha, m);
      } else {
        release(m);
      }
    }
  };
  const startEarly = async (): Promise<void> => {
    try {
      await ensureContainer();
      const listed = await listContent(container, signal, EARLY_LIST_LIMIT);
      const known = new Set(listed.keys());
      for (const prev of state.previous(container.url)) {
        for (const sha of await manifestContent(container, prev, signal)) known.add(sha);
      }
      earlyHave = Object.assign(known, { complete: listed.complete });
      drainEarly();
    } catch (error) {
      failure ??= { error };
    }
  };

  const built = await buildManifest(root, {
    ...options,
    abortSignal: signal,
    onEntry: (entry, localPath, fromCache, content) => {
      options.onEntry?.(entry, localPath, fromCache, content);
      if (!earlyEnabled || failure) return;
      if (!fromCache) {
        coldFiles++;
        coldBytes += entry.sizeBytes;
      }
      pendingEarly.push([
        entry.sha256,
        {
          sizeBytes: entry.sizeBytes,
          file: localPath,
          content: entry.sizeBytes <= singleShot ? hold(content) : undefined,
        },
      ]);
      if (
        !early &&
        (coldBytes >= (options.overlapAfterBytes ?? EARLY_COLD_BYTES) || coldFiles >= EARLY_COLD_FILES)
      ) {
        early = startEarly();
      }
      if (earlyHave) drainEarly();
    },
    onHashed: (h) => {
      options.onHashed?.(h);
      emit({
        phase: 'hashing',
        filesDone: h.filesHashed,
        filesTotal: 0,
        bytesDone: h.bytesHashed,
        bytesTotal: 0,
      });
    },
  });
  const files = built.manifest.files;
  const totalBytes = files.reduce((s, f) => s + f.sizeBytes, 0);

  if (early) await early;
  if (failure) {
    await Promise.allSettled(uploads.values());
    throw failure.error;
  }
  await ensureContainer();

  // Distinct content, each with one local file to read it from.
  const distinct = new Map<string, { sizeBytes: number; file: string }>();
  for (const f of files) {
    if (!distinct.has(f.sha256))
      distinct.set(f.sha256, { sizeBytes: f.sizeBytes, file: built.localPaths.get(f.path)! });
  }
  const hashingMs = Date.now() - started;
  phaseStart = Date.now();
  emit(
    { phase: 'checking', filesDone: 0, filesTotal: distinct.size, bytesDone: 0, bytesTotal: totalBytes },
    true,
  );
  // Manifests are written only after all their content is committed, so a committed
  // manifest proves its content is there: a no-change resync is one HEAD, and content of
  // the previous syncs to this container needs no check. `verify` trusts none of this.
  let used: SyncResult['existenceCheck'] = mode === 'auto' ? 'list' : mode;
  let have = new Set<string>();
  const mName = manifestBlobName(built.id);
  const mBlob = container.getBlockBlobClient(mName);
  let manifestExists = false;
  if (earlyHave?.complete) {
    // The early listing was complete: what it lacks (and no upload started) is missing.
    used = 'list';
    have = new Set([...earlyHave, ...uploads.keys()]);
  } else if (mode === 'auto' && !options.verify) {
    manifestExists = await exists(mBlob, signal);
    if (manifestExists) {
      have = new Set(distinct.keys());
      used = 'manifest';
    } else {
      for (const prev of state.previous(container.url)) {
        for (const sha of await manifestContent(container, prev, signal)) have.add(sha);
      }
      // The rest: listed or HEADed, whichever costs fewer requests.
      const found = await findContent(
        container,
        [...distinct.keys()].filter((sha) => !have.has(sha)),
        signal,
      );
      used = found.by;
      for (const sha of found.sizes.keys()) have.add(sha);
    }
  } else {
    have = new Set(
      (used === 'list'
        ? await listContent(container, signal)
        : await headContent(container, [...distinct.keys()], { abortSignal: signal })
      ).keys(),
    );
  }

  const missing = [...distinct.entries()].filter(([sha]) => !have.has(sha) && !uploads.has(sha));
  const checkingMs = Date.now() - phaseStart;
  phaseStart = Date.now();
  for (const [sha, m] of missing) if (!failure) void uploadOne(sha, m);
  await Promise.allSettled(uploads.values());
  if (failure) throw (failure as { error: unknown }).error; // set by the uploads
  signal.throwIfAborted();
  emit(
    {
      phase: 'uploading',
      filesDone,
      filesTotal: uploadTotal,
      bytesDone: bytesUploaded,
      bytesTotal: uploadBytesTotal,
    },
    true,
  );

  const uploadingMs = Date.now() - phaseStart;
  let manifestUploaded = false;
  try {
    if (manifestExists || (await exists(mBlob, signal))) {
      // Found again: its age for garbage collection starts over.
      await touchManifest(mBlob, signal);
    } else {
      const body = Buffer.from(built.json, 'utf8');
      await mBlob.upload(body, body.length, {
        blobHTTPHeaders: {
          blobContentType: 'application/json',
          blobContentMD5: createHash('md5').update(body).digest(),
        },
        conditions: { ifNoneMatch: '*' },
        abortSignal: signal,
      });
      manifestUploaded = true;
    }
  } catch (e) {
    if (!isAlreadyExists(e)) throw toStorageError(e, 'upload', mBlob.url);
    await touchManifest(mBlob, signal);
  }
  state.record(container.url, built.id);
  emit(
    {
      phase: 'done',
      filesDone,
      filesTotal: uploadTotal,
      bytesDone: bytesUploaded,
      bytesTotal: uploadBytesTotal,
    },
    true,
  );
  return {
    manifestId: built.id,
    manifestBlobName: mName,
    built,
    filesUploaded,
    bytesUploaded,
    filesSkipped: files.length - filesUploaded,
    bytesSkipped: Math.max(0, totalBytes - bytesUploaded),
    manifestUploaded,
    existenceCheck: used,
    durationMs: Date.now() - started,
    phaseMs: { hashing: hashingMs, checking: checkingMs, uploading: uploadingMs },
    uploadsStartedEarly,
  };
}
