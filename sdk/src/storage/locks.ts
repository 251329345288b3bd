/**
 * Sync and garbage-collection locks in the assets container (`locks/`), so that a
 * collection never deletes content a sync relies on. Syncs share; a collection is
 * exclusive:
 *
 * - a sync writes `locks/sync-<id>`, then lists `locks/`; if a live collection lock is
 *   there it removes its own and waits for the collection to end;
 * - a collection writes `locks/gc-<id>`, then lists `locks/`; if a live sync (or another
 *   collection) lock is there it removes its own and waits (at most `waitMs`).
 *
 * Each writes before it lists, and listing is strongly consistent, so of two that start
 * together at least one sees the other and steps back: a sync that holds its lock never
 * runs beside a collection that deletes. A holder renews its lock (rewrites the blob) every
 * `renewEveryMs`; a lock not renewed for `staleAfterMs` (its process died) is ignored.
 * Ages are measured on the storage service's clock (blob Last-Modified), not this machine's.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import type { ContainerClient } from '@azure/storage-blob';
import { SpillwayError, ValidationError } from '../errors';
import { sleep } from '../retry';
import { toStorageError } from './errors';
import { LOCKS_PREFIX } from './layout';

/** Timings of the storage locks. */
export interface StorageLockOptions {
  /** A lock not renewed for this long is ignored (its holder is gone). @default 5 minutes */
  readonly staleAfterMs?: number;
  /** How often a holder renews its lock. @default 1 minute */
  readonly renewEveryMs?: number;
  /** How often a waiting party looks again. @default 1 second */
  readonly pollMs?: number;
  /** Longest wait for the other side; then `StorageBusyError`. @default 10 minutes */
  readonly waitMs?: number;
  readonly abortSignal?: AbortSignal;
}

/** A lock held in the container. */
export interface HeldLock {
  /** Its blob name. */
  readonly name: string;
  /** False once a renewal failed for longer than half the stale time: the lock may no longer protect. */
  healthy(): boolean;
  /** Removes it (a failure to remove only leaves it to go stale). Idempotent. */
  release(): Promise<void>;
}

/** The other side held the container for longer than the caller would wait. */
export class StorageBusyError extends SpillwayError {
  constructor(message: string) {
    super(message, 'UNAVAILABLE');
  }
}

/** A lock seen in a listing. */
export interface SeenLock {
  readonly name: string;
  readonly kind: 'sync' | 'gc';
  readonly lastModified: Date;
}

/**
 * The locks that count, from a listing: every lock but `own`, renewed within `staleAfterMs`
 * of `now` (the storage service's clock). Pure.
 */
export function liveLocks(
  seen: readonly SeenLock[],
  own: string,
  now: Date,
  staleAfterMs: number,
): SeenLock[] {
  return seen.filter((l) => l.name !== own && now.getTime() - l.lastModified.getTime() <= staleAfterMs);
}

const kindOf = (name: string): SeenLock['kind'] | undefined =>
  name.startsWith(`${LOCKS_PREFIX}sync-`) ? 'sync' : name.startsWith(`${LOCKS_PREFIX}gc-`) ? 'gc' : undefined;

/** Every lock blob of the container. */
export async function listLocks(container: ContainerClient, abortSignal?: AbortSignal): Promise<SeenLock[]> {
  const out: SeenLock[] = [];
  try {
    for await (const b of container.listBlobsFlat({ prefix: LOCKS_PREFIX, abortSignal })) {
      const kind = kindOf(b.name);
      if (kind && b.properties.lastModified)
        out.push({ name: b.name, kind, lastModified: b.properties.lastModified });
    }
  } catch (e) {
    throw toStorageError(e, 'list', `${container.url}/${LOCKS_PREFIX}`);
  }
  return out;
}

function timings(options: StorageLockOptions): Required<Omit<StorageLockOptions, 'abortSignal'>> {
  const t = {
    staleAfterMs: options.staleAfterMs ?? 5 * 60_000,
    renewEveryMs: options.renewEveryMs ?? 60_000,
    pollMs: options.pollMs ?? 1000,
    waitMs: options.waitMs ?? 10 * 60_000,
  };
  for (const [k, v] of Object.entries(t)) {
    if (!Number.isFinite(v) || v < 0)
      throw new ValidationError(k, v, 'must be a non-negative number of milliseconds');
  }
  if (t.renewEveryMs * 2 > t.staleAfterMs) {
    throw new ValidationError(
      'renewEveryMs',
      t.renewEveryMs,
      `must be at most half of staleAfterMs (${t.staleAfterMs})`,
    );
  }
  return t;
}

/** Writes (or rewrites) a lock blob; resolves to its Last-Modified (the service's clock). */
async function writeLock(container: ContainerClient, name: string, abortSignal?: AbortSignal): Promise<Date> {
  const body = Buffer.from(
    JSON.stringify({ host: os.hostname(), pid: process.pid, at: new Date().toISOString() }),
  );
  const blob = container.getBlockBlobClient(name);
  try {
    const res = await blob.upload(body, body.length, {
      blobHTTPHeaders: { blobContentType: 'application/json' },
      abortSignal,
    });
    return res.lastModified ?? new Date();
  } catch (e) {
    throw toStorageError(e, 'write lock', blob.url);
  }
}

async function removeLock(container: ContainerClient, name: string): Promise<void> {
  await container
    .getBlobClient(name)
    .deleteIfExists()
    .catch(() => undefined);
}

/**
 * Takes a lock of `kind`, waiting while the other side holds the container: a sync waits
 * for a collection; a collection waits for every sync and any other collection.
 */
async function acquire(
  container: ContainerClient,
  kind: 'sync' | 'gc',
  options: StorageLockOptions,
): Promise<HeldLock> {
  const t = timings(options);
  const signal = options.abortSignal;
  const name = `${LOCKS_PREFIX}${kind}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    const now = await writeLock(container, name, signal);
    let blockers: SeenLock[];
    try {
      blockers = liveLocks(await listLocks(container, signal), name, now, t.staleAfterMs).filter(
        (l) => kind === 'gc' || l.kind === 'gc',
      );
    } catch (e) {
      await removeLock(container, name);
      throw e;
    }
    if (blockers.length === 0) return hold(container, name, t);
    await removeLock(container, name);
    if (Date.now() - started >= t.waitMs) {
      const syncs = blockers.filter((b) => b.kind === 'sync').length;
      throw new StorageBusyError(
        kind === 'gc'
          ? `garbage collection did not start: ${syncs > 0 ? `${syncs} sync(s)` : 'another collection'} held ` +
              `${container.url.split('?')[0]} for more than ${Math.round(t.waitMs / 1000)} s; try again later`
          : `the sync waited more than ${Math.round(t.waitMs / 1000)} s for a garbage collection of ` +
              `${container.url.split('?')[0]} to end; try again later`,
      );
    }
    // Jitter: two parties that stepped back together do not meet again in step.
    await sleep(t.pollMs * (0.5 + Math.random()) * Math.min(4, 1 + attempt / 4), signal);
    signal?.throwIfAborted();
  }
}

function hold(
  container: ContainerClient,
  name: string,
  t: Required<Omit<StorageLockOptions, 'abortSignal'>>,
): HeldLock {
  let renewedAt = Date.now();
  let released = false;
  let renewing: Promise<void> | undefined;
  const timer =
    t.renewEveryMs > 0
      ? setInterval(() => {
          if (renewing) return;
          renewing = writeLock(container, name)
            .then(
              () => {
                renewedAt = Date.now();
              },
              () => undefined,
            )
            .finally(() => {
              renewing = undefined;
            });
        }, t.renewEveryMs)
      : undefined;
  timer?.unref();
  return {
    name,
    healthy: () => !released && Date.now() - renewedAt < t.staleAfterMs / 2,
    release: async () => {
      if (released) return;
      released = true;
      if (timer) clearInterval(timer);
      await renewing;
      await removeLock(container, name);
    },
  };
}

/** Takes a sync's (shared) lock: waits while a garbage collection holds the container. */
export function acquireSyncLock(
  container: ContainerClient,
  options: StorageLockOptions = {},
): Promise<HeldLock> {
  return acquire(container, 'sync', options);
}

/** Takes a garbage collection's (exclusive) lock: waits while syncs or another collection hold the container. */
export function acquireGcLock(
  container: ContainerClient,
  options: StorageLockOptions = {},
): Promise<HeldLock> {
  return acquire(container, 'gc', options);
}
