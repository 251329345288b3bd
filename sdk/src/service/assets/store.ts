/**
 * The AssetService's domain: content-addressed asset content and manifests in the assets
 * container, laid out exactly as `syncAssets` lays them out (`content/<sha256>`,
 * `manifests/<id>.json` holding the canonical manifest JSON), so job preparation fetches a
 * manifest committed here like one from `spillway assets sync`; and succeeded frames'
 * outputs read back from the outputs container.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BlobDownloadResponseParsed, ContainerClient } from '@azure/storage-blob';
import { FailedPreconditionError, NotFoundError, quote, ValidationError } from '../../errors';
import type { Frame, OutputFile } from '../../model/frames';
import {
  canonicalManifestJson,
  contentBlobName,
  findContent,
  IntegrityError,
  isAlreadyExists,
  issueSas,
  manifestBlobName,
  parseManifest,
  sha256Hex,
  toStorageError,
  touchManifest,
  acquireSyncLock,
  type ManifestEntry,
  type StorageLockOptions,
} from '../../storage';

/** Largest chunk of an upload or an output stream (the contract's limit). */
export const MAX_CHUNK_BYTES = 1 << 20;
/** Content up to this size is checked in memory and stored with one Put Blob. */
const SINGLE_SHOT_BYTES = 4 << 20;
/** Larger content is staged in blocks of at least this size. */
const BLOCK_BYTES = 4 << 20;
/** A block blob has at most 50,000 committed blocks. */
export const MAX_CONTENT_BYTES = 50_000 * BLOCK_BYTES;
/** Blocks of one upload staged at once. */
const BLOCK_CONCURRENCY = 4;
/** The longest-lived upload SAS the service issues. */
const MAX_UPLOAD_URL_MS = 3600_000;
/** Blob metadata key of a manifest's label (URI-encoded: metadata values are ASCII). */
const NAME_METADATA = 'spillwayname';

/** What the store needs. */
export interface AssetStoreOptions {
  /** The assets container: `content/<sha256>` and `manifests/<id>.json`. */
  readonly assets: ContainerClient;
  /** The outputs container. */
  readonly outputs: ContainerClient;
  /** Where frames (their state and outputs) are known. */
  readonly frames: { getFrame(frameId: string): Frame | undefined };
  /** The blob name of a frame's output in the outputs container. */
  readonly outputBlobName: (jobId: string, frameId: string, path: string) => string;
  /** Lifetime of an upload SAS; at most 1 hour. @default 1 hour */
  readonly uploadUrlExpiresInMs?: number;
  /** Timings of the sync lock a commit holds (tests shorten them). @default the storage defaults */
  readonly lock?: Omit<StorageLockOptions, 'abortSignal'>;
}

/** What a sync plan found. */
export interface AssetPlan {
  /** Hashes of content the store lacks, each once, in manifest order. */
  readonly missingSha256: readonly string[];
  /** Bytes of the missing content (each content once). */
  readonly missingBytes: number;
  /** Bytes of the content already present (each content once). */
  readonly presentBytes: number;
  /** A create/write-only SAS URL of the assets container, when asked for. Never log it. */
  readonly upload?: { readonly url: string; readonly expiresOn: Date };
}

/** What an upload did. */
export interface StoredContent {
  readonly sha256: string;
  /** Bytes received and stored; 0 when the content was already present. */
  readonly bytesStored: number;
  readonly alreadyPresent: boolean;
}

/** A stored manifest. */
export interface StoredManifest {
  readonly manifestId: string;
  readonly entries: readonly ManifestEntry[];
  /** Its label; empty when none was given (e.g. a manifest from `spillway assets sync`). */
  readonly name: string;
}

/** An output being read: its description and its bytes from the requested offset. */
export interface OutputStream {
  readonly file: OutputFile;
  /** Chunks of at most `MAX_CHUNK_BYTES`, in order. */
  readonly chunks: AsyncIterable<Buffer>;
  /** Its blob in the outputs container. */
  readonly blobName: string;
}

const statusOf = (e: unknown): number | undefined => (e as { statusCode?: number }).statusCode;

/**
 * Asset content and manifests in Blob Storage, and frame outputs read back. Every method
 * takes validated input (see `grpc/assets.ts`), checks what only the store can check, and
 * raises typed errors.
 */
export class AssetStore {
  private readonly uploadUrlMs: number;

  constructor(private readonly options: AssetStoreOptions) {
    this.uploadUrlMs = options.uploadUrlExpiresInMs ?? MAX_UPLOAD_URL_MS;
    if (!(this.uploadUrlMs > 0 && this.uploadUrlMs <= MAX_UPLOAD_URL_MS)) {
      throw new ValidationError(
        'uploadUrlExpiresInMs',
        this.uploadUrlMs,
        'must be positive and at most 1 hour',
      );
    }
  }

  /** Which of the manifest's content the store lacks; optionally a write-only SAS to upload it directly. */
  async plan(
    entries: readonly ManifestEntry[],
    options: { readonly wantUploadUrl?: boolean; readonly abortSignal?: AbortSignal } = {},
  ): Promise<AssetPlan> {
    const distinct = distinctContent(entries);
    const stored = await this.storedSizes([...distinct.keys()], options.abortSignal);
    const missing: string[] = [];
    let missingBytes = 0;
    let presentBytes = 0;
    for (const [sha, { sizeBytes, index }] of distinct) {
      const size = stored.get(sha);
      if (size === undefined) {
        missing.push(sha);
        missingBytes += sizeBytes;
      } else {
        checkStoredSize(sha, sizeBytes, size, index);
        presentBytes += sizeBytes;
      }
    }
    let upload: AssetPlan['upload'];
    if (options.wantUploadUrl) {
      let sas: Awaited<ReturnType<typeof issueSas>>;
      try {
        sas = await issueSas(this.options.assets, {
          access: 'write',
          expiresInMs: this.uploadUrlMs,
          abortSignal: options.abortSignal,
        });
      } catch (e) {
        // The service's own credential cannot sign one: not the caller's mistake.
        if (!(e instanceof ValidationError)) throw e;
        throw new FailedPreconditionError(
          `this service cannot issue upload URLs (${e.reason}); upload content with UploadContent instead`,
        );
      }
      upload = { url: sas.url, expiresOn: sas.expiresOn };
    }
    return { missingSha256: missing, missingBytes, presentBytes, ...(upload ? { upload } : {}) };
  }

  /**
   * Stores one content from its chunks, checking them against `sha256` and `sizeBytes`.
   * Nothing becomes visible unless both match: small content is checked in memory and
   * stored with one Put Blob; larger content is staged as uncommitted blocks (invisible,
   * with ids unique to this upload, so a concurrent upload cannot mix its blocks in) and
   * committed only after the check. Content already present answers at once, without
   * reading the chunks.
   */
  async upload(
    header: { readonly sha256: string; readonly sizeBytes: number },
    chunks: AsyncIterable<Uint8Array>,
    abortSignal?: AbortSignal,
  ): Promise<StoredContent> {
    const { sha256, sizeBytes } = header;
    const blob = this.options.assets.getBlockBlobClient(contentBlobName(sha256));
    const present: StoredContent = { sha256, bytesStored: 0, alreadyPresent: true };
    try {
      if (await blob.exists({ abortSignal })) return present;
    } catch (e) {
      throw toStorageError(e, 'HEAD', blob.url);
    }
    const hash = createHash('sha256');
    let received = 0;
    const take = (chunk: Uint8Array): void => {
      if (chunk.length > MAX_CHUNK_BYTES) {
        throw new ValidationError(
          'chunk',
          `${chunk.length} bytes`,
          `must be at most ${MAX_CHUNK_BYTES} bytes`,
        );
      }
      received += chunk.length;
      if (received > sizeBytes) {
        throw new IntegrityError(
          `content ${sha256}: received more than the ${sizeBytes} bytes the header announced; nothing was stored`,
          contentBlobName(sha256),
        );
      }
      hash.update(chunk);
    };
    const check = (): void => {
      const got = hash.digest('hex');
      if (received !== sizeBytes || got !== sha256) {
        throw new IntegrityError(
          `content ${sha256}: received ${received} bytes with sha256 ${got}, but the header announced ` +
            `${sizeBytes} bytes with sha256 ${sha256}; nothing was stored`,
          contentBlobName(sha256),
        );
      }
    };

    if (sizeBytes <= SINGLE_SHOT_BYTES) {
      const parts: Uint8Array[] = [];
      for await (const chunk of chunks) {
        take(chunk);
        parts.push(chunk);
      }
      check();
      const body = Buffer.concat(parts);
      const md5 = createHash('md5').update(body).digest();
      try {
        // The service checks the MD5 against what it received; If-None-Match: * keeps a
        // committed blob as it is (content-addressed: same name, same bytes).
        await blob.upload(body, body.length, {
          blobHTTPHeaders: { blobContentType: 'application/octet-stream', blobContentMD5: md5 },
          conditions: { ifNoneMatch: '*' },
          abortSignal,
        });
      } catch (e) {
        if (isAlreadyExists(e)) return present;
        throw toStorageError(e, 'upload', blob.url);
      }
      return { sha256, bytesStored: body.length, alreadyPresent: false };
    }

    const nonce = randomBytes(8).toString('hex');
    const ids: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const stage = async (): Promise<void> => {
      const block = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      // Same length for every id of the blob, as the service requires.
      const id = Buffer.from(`spw-${nonce}-${ids.length.toString().padStart(7, '0')}`).toString('base64');
      ids.push(id);
      while (inFlight.size >= BLOCK_CONCURRENCY) await Promise.race(inFlight);
      if (failure) throw failure.error;
      const md5 = createHash('md5').update(block).digest();
      const p = blob
        .stageBlock(id, block, block.length, { transactionalContentMD5: md5, abortSignal })
        .then(
          () => undefined,
          (e: unknown) => {
            failure ??= { error: toStorageError(e, 'stage block of', blob.url) };
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    try {
      for await (const chunk of chunks) {
        take(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= BLOCK_BYTES) await stage();
      }
      check();
      if (pendingBytes > 0) await stage();
      await Promise.all(inFlight);
      if (failure) throw failure.error;
    } finally {
      await Promise.allSettled(inFlight);
    }
    try {
      await blob.commitBlockList(ids, {
        blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
        conditions: { ifNoneMatch: '*' },
        abortSignal,
      });
    } catch (e) {
      if (isAlreadyExists(e)) return present;
      throw toStorageError(e, 'commit', blob.url);
    }
    return { sha256, bytesStored: received, alreadyPresent: false };
  }

  /**
   * Stores a manifest whose content is all present, as `syncAssets` does: the canonical
   * JSON under `manifests/<id>.json`, id = its SHA-256. The label rides along as blob
   * metadata (the first commit's label stays). FAILED_PRECONDITION names the first
   * missing content, in manifest order.
   */
  async commit(
    entries: readonly ManifestEntry[],
    name: string,
    abortSignal?: AbortSignal,
  ): Promise<{ manifestId: string; fileCount: number; totalBytes: number }> {
    // As a sync does: under the sync lock, so a garbage collection cannot delete content
    // between the check below and the manifest that lists it.
    const lock = await acquireSyncLock(this.options.assets, { ...this.options.lock, abortSignal });
    try {
      return await this.commitLocked(entries, name, abortSignal);
    } finally {
      await lock.release();
    }
  }

  private async commitLocked(
    entries: readonly ManifestEntry[],
    name: string,
    abortSignal?: AbortSignal,
  ): Promise<{ manifestId: string; fileCount: number; totalBytes: number }> {
    const distinct = distinctContent(entries);
    const stored = await this.storedSizes([...distinct.keys()], abortSignal);
    for (const [i, e] of entries.entries()) {
      const size = stored.get(e.sha256);
      if (size === undefined) {
        throw new FailedPreconditionError(
          `content ${e.sha256} of entries[${i}] (${quote(e.path)}) is not in the store; ` +
            'upload it with UploadContent, then commit again',
        );
      }
      checkStoredSize(e.sha256, e.sizeBytes, size, i);
    }
    const json = canonicalManifestJson({ version: 1, files: entries });
    const manifestId = sha256Hex(json);
    const blob = this.options.assets.getBlockBlobClient(manifestBlobName(manifestId));
    const body = Buffer.from(json, 'utf8');
    try {
      await blob.upload(body, body.length, {
        blobHTTPHeaders: {
          blobContentType: 'application/json',
          blobContentMD5: createHash('md5').update(body).digest(),
        },
        ...(name ? { metadata: { [NAME_METADATA]: encodeURIComponent(name) } } : {}),
        conditions: { ifNoneMatch: '*' },
        abortSignal,
      });
    } catch (e) {
      if (!isAlreadyExists(e)) throw toStorageError(e, 'upload', blob.url);
      // Committed again: its age for garbage collection starts over (its first label stays).
      await touchManifest(blob, abortSignal);
    }
    return {
      manifestId,
      fileCount: entries.length,
      totalBytes: entries.reduce((n, e) => n + e.sizeBytes, 0),
    };
  }

  /** A stored manifest, checked against its id. NOT_FOUND names the id. */
  async get(manifestId: string, abortSignal?: AbortSignal): Promise<StoredManifest> {
    const blob = this.options.assets.getBlobClient(manifestBlobName(manifestId));
    let res: BlobDownloadResponseParsed;
    let body: Buffer;
    try {
      res = await blob.download(0, undefined, { abortSignal, maxRetryRequests: 3 });
      body = await readAll(res.readableStreamBody as AsyncIterable<Buffer>);
    } catch (e) {
      if (statusOf(e) === 404) {
        throw new NotFoundError(
          `manifest ${manifestId} not found; commit it with CommitManifest (or spillway assets sync)`,
        );
      }
      throw toStorageError(e, 'download', blob.url);
    }
    if (sha256Hex(body) !== manifestId) {
      throw new IntegrityError(
        `manifest ${manifestId} is stored with other bytes (sha256 ${sha256Hex(body)})`,
        manifestBlobName(manifestId),
      );
    }
    const manifest = parseManifest(body.toString('utf8'), `manifest ${manifestId}`);
    const label = res.metadata?.[NAME_METADATA];
    let name = '';
    try {
      name = label ? decodeURIComponent(label) : '';
    } catch {
      name = label ?? '';
    }
    return { manifestId, entries: manifest.files, name };
  }

  /**
   * One output of a succeeded frame, from `offset`. NOT_FOUND for an unknown frame or a
   * path that is not one of its outputs; FAILED_PRECONDITION when the frame has not
   * succeeded.
   */
  async openOutput(
    frameId: string,
    path: string,
    offset: number,
    abortSignal?: AbortSignal,
  ): Promise<OutputStream> {
    const frame = this.options.frames.getFrame(frameId);
    if (!frame) throw new NotFoundError(`frame ${quote(frameId)} not found`);
    if (frame.state !== 'succeeded') {
      throw new FailedPreconditionError(
        `frame ${frameId} is ${frame.state}, not succeeded: only a succeeded frame's outputs can be fetched`,
      );
    }
    const file = frame.outputs.find((o) => o.path === path);
    if (!file) {
      const some = frame.outputs.slice(0, 5).map((o) => quote(o.path));
      const more = frame.outputs.length > 5 ? `, ... (${frame.outputs.length} in all)` : '';
      throw new NotFoundError(
        `path ${quote(path)} is not an output of frame ${frameId}; its outputs: ${some.join(', ') || 'none'}${more}`,
      );
    }
    if (offset > file.sizeBytes) {
      throw new ValidationError('offset', offset, `must be at most the file's size, ${file.sizeBytes} bytes`);
    }
    const header: OutputFile = { path: file.path, sizeBytes: file.sizeBytes, sha256: file.sha256 };
    const count = file.sizeBytes - offset;
    const blobName = this.options.outputBlobName(frame.jobId, frameId, path);
    if (count === 0) return { file: header, chunks: (async function* () {})(), blobName };
    const blob = this.options.outputs.getBlobClient(blobName);
    let res: BlobDownloadResponseParsed;
    try {
      res = await blob.download(offset, count, { abortSignal, maxRetryRequests: 5 });
    } catch (e) {
      if (statusOf(e) === 404) {
        throw new NotFoundError(
          `output ${quote(path)} of frame ${frameId} is no longer in the outputs container: it was fetched ` +
            'and has expired (storage.outputsExpireAfterMs), or was deleted',
        );
      }
      throw toStorageError(e, 'download', blob.url);
    }
    const total = /\/(\d+)$/.exec(res.contentRange ?? '')?.[1];
    if (total !== undefined && Number(total) !== file.sizeBytes) {
      res.readableStreamBody?.destroy();
      throw new IntegrityError(
        `output ${path} of frame ${frameId} is stored with ${total} bytes, not the ${file.sizeBytes} its outputs.json records`,
        path,
      );
    }
    return { file: header, chunks: rechunk(res.readableStreamBody as AsyncIterable<Buffer>), blobName };
  }

  /** The sizes of the content the store has, among `hashes`, found as `syncAssets` finds it. */
  private async storedSizes(
    hashes: readonly string[],
    abortSignal?: AbortSignal,
  ): Promise<Map<string, number>> {
    return (await findContent(this.options.assets, hashes, abortSignal)).sizes;
  }
}

/** Each content once, with its size and the index of its first entry. */
function distinctContent(
  entries: readonly ManifestEntry[],
): Map<string, { readonly sizeBytes: number; readonly index: number }> {
  const distinct = new Map<string, { sizeBytes: number; index: number }>();
  entries.forEach((e, index) => {
    if (!distinct.has(e.sha256)) distinct.set(e.sha256, { sizeBytes: e.sizeBytes, index });
  });
  return distinct;
}

function checkStoredSize(sha: string, claimed: number, stored: number, index: number): void {
  if (claimed !== stored) {
    throw new ValidationError(
      `entries[${index}].size_bytes`,
      claimed,
      `does not match the stored content ${sha}, which has ${stored} bytes`,
    );
  }
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A byte stream as messages of up to `MAX_CHUNK_BYTES` (small reads coalesced). */
async function* rechunk(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const data of body) {
    let chunk = data;
    while (size + chunk.length >= MAX_CHUNK_BYTES) {
      const take = MAX_CHUNK_BYTES - size;
      parts.push(chunk.subarray(0, take));
      yield Buffer.concat(parts, MAX_CHUNK_BYTES);
      parts = [];
      size = 0;
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      parts.push(chunk);
      size += chunk.length;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}
