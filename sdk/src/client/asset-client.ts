import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ValidationError } from '../errors';
import * as wa from '../gen/spillway/v1/assets';
import { durationFromWire, durationToWire } from '../model/wire-mapping';
import { IntegrityError } from '../storage/errors';
import { fsyncDir } from '../storage/outputs';
import { hashFile, type ManifestEntry } from '../storage/manifest';
import type { BurstClientOptions, CallOptions } from './burst-client';
import { retry, type RetryOptions } from '../retry';
import {
  BurstServiceError,
  callMetadata,
  callUnary,
  channelSetup,
  CLIENT_BACKOFF,
  fromGrpcError,
  isUnavailable,
  type UnaryMethod,
} from './call';

/** Largest chunk the service accepts in an upload. */
const CHUNK_BYTES = 1 << 20;

/** Options of `planAssetSync`. */
export interface PlanAssetSyncOptions extends CallOptions {
  /** Also ask for a short-lived create/write-only SAS URL to upload content directly. @default false */
  readonly wantUploadUrl?: boolean;
}

/** What the store lacks of a manifest. */
export interface AssetSyncPlan {
  /** Hashes of content the store lacks, each once, in manifest order. */
  readonly missingSha256: string[];
  /** Bytes of the missing content (each content counted once). */
  readonly missingBytes: number;
  /** Bytes of the content already present (each content counted once). */
  readonly presentBytes: number;
  /**
   * When asked for: a create/write-only SAS URL of the assets container and its expiry.
   * Upload content as the blob `content/<sha256>` under it. A secret: never log it.
   */
  readonly upload?: { readonly url: string; readonly expiresOn: Date };
}

/** Options of the streaming calls (`uploadContent`, `fetchOutput`). */
export interface TransferOptions {
  readonly abortSignal?: AbortSignal;
  /** Give up (and retry, if attempts are left) after this long without progress. @default 60000 */
  readonly idleTimeoutMs?: number;
  /** Attempts when the service is unavailable or idle; a fetch resumes where it stopped. @default the client's `maxAttempts` (4) */
  readonly maxAttempts?: number;
}

/** Options of `uploadContent`. */
export interface UploadContentOptions extends TransferOptions {
  /**
   * The content's SHA-256 when already known (skips hashing it here). A wrong value makes
   * the service answer DATA_LOSS and store nothing. @default computed from the content
   */
  readonly sha256?: string;
  /** Called as bytes are sent. */
  readonly onProgress?: (bytesSent: number, sizeBytes: number) => void;
}

/** What `uploadContent` did. */
export interface UploadedContent {
  readonly sha256: string;
  /** Bytes the service stored: 0 when it already had the content. */
  readonly bytesStored: number;
  readonly alreadyPresent: boolean;
}

/** Options of `commitManifest`. */
export interface CommitManifestOptions extends CallOptions {
  /** A label for logs, e.g. the scene file's name. @default none */
  readonly name?: string;
}

/** A committed manifest. */
export interface CommittedManifest {
  /** SHA-256 of its canonical form: use it as a job's `assetManifestId`. */
  readonly manifestId: string;
  readonly fileCount: number;
  readonly totalBytes: number;
}

/** A stored manifest. */
export interface StoredManifest {
  readonly manifestId: string;
  readonly entries: ManifestEntry[];
  /** Its label; empty when it has none. */
  readonly name: string;
}

/** Options of `collectGarbage`. */
export interface CollectGarbageOptions extends CallOptions {
  /** Blobs last written at least this long before the collection started may go (0: every unused one). */
  readonly olderThanMs: number;
  /** Only report what would be deleted. @default false */
  readonly dryRun?: boolean;
}

/** What a garbage collection removed (or, as a dry run, would remove). */
export interface GarbageCollection {
  readonly dryRun: boolean;
  /** Blobs last written before this were old enough. */
  readonly cutoff: Date;
  /** Ids of the manifests deleted. */
  readonly manifestsDeleted: string[];
  readonly manifestsKept: number;
  /** Old enough, but used by an unfinished job: kept. */
  readonly manifestsPinned: string[];
  /** Content blobs deleted. */
  readonly contentDeleted: number;
  readonly contentKept: number;
  /** Bytes of the deleted blobs (manifests and content). */
  readonly bytesDeleted: number;
  /** Why no content was deleted, when a manifest could not be read. */
  readonly contentSkipped?: string;
  readonly durationMs: number;
}

/** Options of `fetchOutput`. */
export interface FetchOutputOptions extends TransferOptions {
  /**
   * Continue from `<destFile>.part` left by an interrupted fetch (its bytes are verified
   * with the rest; a bad prefix is fetched again from the start). @default true
   */
  readonly resume?: boolean;
  /** Called as bytes arrive, with the bytes in the `.part` file so far. */
  readonly onProgress?: (bytesDone: number, sizeBytes: number) => void;
}

/** A fetched output, verified and in place. */
export interface FetchedOutput {
  /** Absolute local path. */
  readonly localPath: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  /** Bytes received over the network by this call. */
  readonly bytesReceived: number;
  /** Byte offset the first request resumed from (0: from the start). */
  readonly resumedFrom: number;
}

/**
 * Typed client of the AssetService: asset content in, manifests, and frame outputs back,
 * for callers that have no access to Blob Storage. Usually reached as `BurstClient.assets`
 * (the same channel); constructed alone it opens its own. Failures are `BurstServiceError`s
 * (DATA_LOSS for content that does not match its hash); a fetched output that does not
 * match its recorded hash is an `IntegrityError` and is never placed.
 */
export class AssetClient {
  private readonly client: wa.AssetServiceClient;
  private readonly ownsChannel: boolean;

  /**
   * @param address `host:port` of the service.
   * @param options as for `BurstClient`.
   * @param channel @internal the channel of the `BurstClient` this client belongs to.
   */
  constructor(
    readonly address: string,
    private readonly options: BurstClientOptions = {},
    channel?: grpc.Channel,
  ) {
    const { credentials, channelOptions } = channelSetup(options);
    this.ownsChannel = channel === undefined;
    this.client = new wa.AssetServiceClient(address, credentials, {
      ...channelOptions,
      ...(channel ? { channelOverride: channel } : {}),
    });
  }

  private metadata(): grpc.Metadata {
    return callMetadata(this.options);
  }

  private unary<Req, Res>(
    method: UnaryMethod<Req, Res>,
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    return callUnary(this.client, method, request, options, this.options);
  }

  /** Which content of a manifest the store lacks (each hash once), and optionally an upload SAS URL. */
  async planAssetSync(
    entries: readonly ManifestEntry[],
    options: PlanAssetSyncOptions = {},
  ): Promise<AssetSyncPlan> {
    const res = await this.unary(
      this.client.planAssetSync,
      { entries: entries.map(entryToWire), wantUploadUrl: options.wantUploadUrl ?? false },
      options,
    );
    return {
      missingSha256: res.missingSha256,
      missingBytes: res.missingBytes,
      presentBytes: res.presentBytes,
      ...(res.uploadUrl
        ? { upload: { url: res.uploadUrl, expiresOn: res.uploadUrlExpiresAt ?? new Date(0) } }
        : {}),
    };
  }

  /**
   * Uploads one content, from a file path or bytes, in chunks of 1 MiB. The service checks
   * size and SHA-256 before storing it; content it already has is acknowledged at once.
   * Retried from the start when the service is unavailable.
   */
  async uploadContent(
    source: string | Uint8Array,
    options: UploadContentOptions = {},
  ): Promise<UploadedContent> {
    const content = await describeContent(source, options);
    try {
      const res = await retry(() => this.uploadOnce(content, options), this.retryOptions(options));
      return { sha256: res.sha256, bytesStored: res.bytesStored, alreadyPresent: res.alreadyPresent };
    } catch (err) {
      throw transferError(err, options.abortSignal);
    }
  }

  private uploadOnce(content: Content, options: UploadContentOptions): Promise<wa.UploadContentResponse> {
    return new Promise<wa.UploadContentResponse>((resolve, reject) => {
      let finished = false;
      let markFinished!: () => void;
      const finishedPromise = new Promise<void>((r) => (markFinished = r));
      const idle = new IdleTimer(options.idleTimeoutMs ?? 60_000, () => {
        reject(new IdleError(options.idleTimeoutMs ?? 60_000, 'uploadContent'));
        call.cancel();
      });
      const onAbort = (): void => call.cancel();
      const call = this.client.uploadContent(this.metadata(), {}, (err, res) => {
        finished = true;
        markFinished();
        idle.stop();
        options.abortSignal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(res);
      });
      options.abortSignal?.addEventListener('abort', onAbort, { once: true });
      const send = async (message: wa.UploadContentRequest): Promise<void> => {
        if (!call.write(message)) {
          await Promise.race([new Promise<void>((r) => call.once('drain', () => r())), finishedPromise]);
        }
        idle.touch();
      };
      (async () => {
        await send({
          payload: { $case: 'header', value: { sha256: content.sha256, sizeBytes: content.sizeBytes } },
        });
        let sent = 0;
        for await (const chunk of content.chunks(options.abortSignal)) {
          // The service answers early when it has the content already: stop sending.
          if (finished) return;
          await send({
            payload: { $case: 'chunk', value: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) },
          });
          sent += chunk.length;
          options.onProgress?.(sent, content.sizeBytes);
        }
        if (!finished) call.end();
      })().catch((err: unknown) => {
        idle.stop();
        reject(err);
        call.cancel();
      });
    });
  }

  /**
   * Stores a manifest whose content is all uploaded; its id is what a job's
   * `assetManifestId` names. FAILED_PRECONDITION names the first content missing.
   */
  async commitManifest(
    entries: readonly ManifestEntry[],
    options: CommitManifestOptions = {},
  ): Promise<CommittedManifest> {
    const res = await this.unary(
      this.client.commitManifest,
      { entries: entries.map(entryToWire), name: options.name ?? '' },
      options,
    );
    return { manifestId: res.manifestId, fileCount: res.fileCount, totalBytes: res.totalBytes };
  }

  /** A stored manifest. NOT_FOUND when there is none with that id. */
  async getManifest(manifestId: string, options: CallOptions = {}): Promise<StoredManifest> {
    const res = await this.unary(this.client.getManifest, { manifestId }, options);
    return {
      manifestId: res.manifestId,
      name: res.name,
      entries: res.entries.map((e) => ({ path: e.path, sizeBytes: e.sizeBytes, sha256: e.sha256 })),
    };
  }

  /**
   * Collects garbage in the service's asset storage: manifests last written more than
   * `olderThanMs` ago that no unfinished job uses, then content no remaining manifest
   * lists. The service waits for running syncs first (so this call can take minutes:
   * its timeout defaults to 15 minutes). With `dryRun`, only reports.
   * FAILED_PRECONDITION while another collection runs.
   */
  async collectGarbage(options: CollectGarbageOptions): Promise<GarbageCollection> {
    const ms = options.olderThanMs;
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new ValidationError('olderThanMs', ms, 'must be a whole number of milliseconds, 0 or more');
    }
    const res = await this.unary(
      this.client.collectGarbage,
      {
        olderThan: durationToWire(ms),
        dryRun: options.dryRun ?? false,
      },
      { timeoutMs: 15 * 60_000, ...options },
    );
    const d = res.duration;
    return {
      dryRun: res.dryRun,
      cutoff: res.cutoff ?? new Date(0),
      manifestsDeleted: res.manifestsDeleted,
      manifestsKept: res.manifestsKept,
      manifestsPinned: res.manifestsPinned,
      contentDeleted: res.contentDeleted,
      contentKept: res.contentKept,
      bytesDeleted: res.bytesDeleted,
      ...(res.contentSkipped ? { contentSkipped: res.contentSkipped } : {}),
      durationMs: d ? Math.round(durationFromWire(d)) : 0,
    };
  }

  /**
   * Fetches one output of a succeeded frame into `destFile`: the bytes go to
   * `<destFile>.part`, are checked against the size and SHA-256 the node recorded, and
   * only then renamed into place, so the destination never holds a partial or wrong file.
   * An interrupted fetch resumes from the `.part` file's length.
   */
  async fetchOutput(
    frameId: string,
    outputPath: string,
    destFile: string,
    options: FetchOutputOptions = {},
  ): Promise<FetchedOutput> {
    if (typeof destFile !== 'string' || destFile === '') {
      throw new ValidationError('destFile', destFile, 'must be a file path');
    }
    const dest = path.resolve(destFile);
    const part = `${dest}.part`;
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    if (options.resume === false) await fs.promises.rm(part, { force: true });
    let received = 0;
    let resumedFrom: number | undefined;
    let restarted = false;
    const restart = async (): Promise<void> => {
      restarted = true;
      await fs.promises.rm(part, { force: true });
    };
    /** One attempt: from what the .part holds, and once more from the start when that was not a prefix. */
    const attempt = async (): Promise<FetchedOutput> => {
      for (;;) {
        options.abortSignal?.throwIfAborted();
        const offset = await sizeOf(part);
        resumedFrom ??= offset;
        let got: Awaited<ReturnType<AssetClient['fetchOnce']>>;
        try {
          got = await this.fetchOnce(frameId, outputPath, part, offset, options, (n) => (received += n));
        } catch (err) {
          // The .part is longer than the file: not a prefix of it.
          const e = err as grpc.ServiceError;
          if (offset > 0 && !restarted && e.code === grpc.status.INVALID_ARGUMENT && field(e) === 'offset') {
            await restart();
            continue;
          }
          throw err;
        }
        if (got.sizeBytes === got.file.sizeBytes && got.sha256 === got.file.sha256) {
          await fs.promises.rename(part, dest);
          fsyncDir(path.dirname(dest));
          return {
            localPath: dest,
            sizeBytes: got.file.sizeBytes,
            sha256: got.file.sha256,
            bytesReceived: received,
            resumedFrom,
          };
        }
        // A resumed prefix that was not this file's: once more from the start.
        if (offset > 0 && !restarted) {
          await restart();
          continue;
        }
        await fs.promises.rm(part, { force: true });
        throw new IntegrityError(
          `output ${JSON.stringify(outputPath)} of frame ${frameId}: received ${got.sizeBytes} bytes with sha256 ` +
            `${got.sha256}, but the frame recorded ${got.file.sizeBytes} bytes with sha256 ${got.file.sha256}; ` +
            'nothing was placed',
          outputPath,
        );
      }
    };
    try {
      return await retry(attempt, this.retryOptions(options));
    } catch (err) {
      throw transferError(err, options.abortSignal);
    }
  }

  /** Retries of a transfer: on UNAVAILABLE or no progress, bounded by the call's or the client's `maxAttempts`. */
  private retryOptions(options: TransferOptions): RetryOptions {
    return {
      ...CLIENT_BACKOFF,
      maxAttempts: options.maxAttempts ?? this.options.maxAttempts ?? 4,
      retryable,
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    };
  }

  /** One FetchOutput call appended to `part` from `offset`; the hash covers the whole part file. */
  private async fetchOnce(
    frameId: string,
    outputPath: string,
    part: string,
    offset: number,
    options: FetchOutputOptions,
    onBytes: (n: number) => void,
  ): Promise<{ file: { sizeBytes: number; sha256: string }; sizeBytes: number; sha256: string }> {
    const hash = createHash('sha256');
    if (offset > 0) await hashPrefix(part, offset, hash, options.abortSignal);
    const fh = await fs.promises.open(part, offset > 0 ? 'a' : 'w');
    // The call starts only now, and is read at once: its error must find a listener.
    const call = this.client.fetchOutput({ frameId, path: outputPath, offset }, this.metadata());
    const onAbort = (): void => call.cancel();
    options.abortSignal?.addEventListener('abort', onAbort, { once: true });
    let idleError: IdleError | undefined;
    const idle = new IdleTimer(options.idleTimeoutMs ?? 60_000, () => {
      idleError = new IdleError(options.idleTimeoutMs ?? 60_000, 'fetchOutput');
      call.cancel();
    });
    let file: { sizeBytes: number; sha256: string } | undefined;
    let size = offset;
    try {
      for await (const message of call as AsyncIterable<wa.FetchOutputResponse>) {
        idle.touch();
        const p = message.payload;
        if (p?.$case === 'header') {
          file = { sizeBytes: p.value.sizeBytes, sha256: p.value.sha256 };
        } else if (p?.$case === 'chunk') {
          if (!file) throw new IntegrityError('the service sent bytes before the header', outputPath);
          await fh.write(p.value);
          hash.update(p.value);
          size += p.value.length;
          onBytes(p.value.length);
          options.onProgress?.(size, file.sizeBytes);
          if (size > file.sizeBytes) break; // more than the file: fails the check below
        }
      }
      await fh.sync();
    } catch (err) {
      if (idleError) throw idleError;
      if (options.abortSignal?.aborted) throw options.abortSignal.reason ?? err;
      throw err;
    } finally {
      idle.stop();
      options.abortSignal?.removeEventListener('abort', onAbort);
      call.cancel();
      await fh.close();
    }
    if (!file) throw new IntegrityError('the service ended the stream without a header', outputPath);
    return { file, sizeBytes: size, sha256: hash.digest('hex') };
  }

  /** Closes the client (and its channel, when it opened its own). */
  close(): void {
    if (this.ownsChannel) this.client.close();
  }
}

interface Content {
  readonly sha256: string;
  readonly sizeBytes: number;
  chunks(abortSignal?: AbortSignal): AsyncIterable<Uint8Array>;
}

async function describeContent(source: string | Uint8Array, options: UploadContentOptions): Promise<Content> {
  if (typeof source === 'string') {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(source);
    } catch {
      throw new ValidationError('source', source, 'must be an existing file');
    }
    if (!st.isFile()) throw new ValidationError('source', source, 'must be a regular file');
    const read = (signal?: AbortSignal): AsyncIterable<Uint8Array> =>
      fs.createReadStream(source, { highWaterMark: CHUNK_BYTES, signal }) as AsyncIterable<Buffer>;
    const sha256 = options.sha256 ?? (await hashFile(source, options.abortSignal));
    return { sha256, sizeBytes: st.size, chunks: read };
  }
  if (!(source instanceof Uint8Array))
    throw new ValidationError('source', typeof source, 'must be a file path or bytes');
  return {
    sha256: options.sha256 ?? createHash('sha256').update(source).digest('hex'),
    sizeBytes: source.length,
    async *chunks() {
      for (let at = 0; at < source.length; at += CHUNK_BYTES) yield source.subarray(at, at + CHUNK_BYTES);
    },
  };
}

function entryToWire(e: ManifestEntry): {
  path: string;
  sizeBytes: number;
  sha256: string;
  executable: boolean;
} {
  return { path: e.path, sizeBytes: e.sizeBytes, sha256: e.sha256, executable: false };
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch {
    return 0;
  }
}

async function hashPrefix(file: string, length: number, hash: Hash, signal?: AbortSignal): Promise<void> {
  const stream = fs.createReadStream(file, { start: 0, end: length - 1, highWaterMark: CHUNK_BYTES, signal });
  for await (const chunk of stream) hash.update(chunk as Buffer);
}

function isGrpcError(err: unknown): boolean {
  return typeof (err as { code?: unknown })?.code === 'number' && 'details' in (err as object);
}

function field(err: grpc.ServiceError): string | undefined {
  const f = err.metadata?.get('spillway-field')[0];
  return typeof f === 'string' ? f : undefined;
}

function retryable(err: unknown): boolean {
  return err instanceof IdleError || isUnavailable(err);
}

/** The error a transfer ends with: gRPC and idle failures typed, anything else (and an abort's reason) as it is. */
function transferError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && err === signal.reason) return err;
  if (err instanceof IdleError) return err.toServiceError();
  return isGrpcError(err) ? fromGrpcError(err) : err;
}

/** A transfer made no progress for too long. */
class IdleError extends Error {
  constructor(
    readonly ms: number,
    readonly method: string,
  ) {
    super(`${method}: no progress for ${ms} ms`);
  }

  toServiceError(): BurstServiceError {
    return new BurstServiceError(
      `${this.message}; the service or the network stalled (raise idleTimeoutMs for slow links)`,
      'DEADLINE_EXCEEDED',
      grpc.status.DEADLINE_EXCEEDED,
      undefined,
      this,
    );
  }
}

/** Calls `onIdle` once when `touch` was not called for `ms`. */
class IdleTimer {
  private timer: NodeJS.Timeout;
  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {
    this.timer = setTimeout(onIdle, ms);
  }
  touch(): void {
    this.timer.refresh();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}
