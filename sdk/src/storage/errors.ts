import { SpillwayError, ValidationError } from '../errors';
import { redact } from '../logging';

/**
 * A path in a manifest, a file list or an `outputs.json` that would leave its root: an
 * absolute path, a `..` segment, or a symbolic link pointing outside the tree.
 */
export class PathEscapeError extends ValidationError {
  constructor(field: string, value: string, reason: string) {
    super(field, value, reason);
  }
}

/** Downloaded or uploaded bytes did not match the expected size or SHA-256. Nothing was placed. */
export class IntegrityError extends SpillwayError {
  constructor(
    message: string,
    /** The path (relative) or blob name that failed. */
    readonly path: string,
  ) {
    super(message, 'DATA_LOSS');
  }
}

/**
 * A Blob Storage call failed. The message names the operation and the blob (without any
 * query string) and carries the service's status and error code; never a key or SAS.
 * The raw SDK error is deliberately not kept as `cause`: its request holds credentials.
 */
export class StorageError extends SpillwayError {
  constructor(
    message: string,
    /** HTTP status, when the service answered. */
    readonly statusCode?: number,
    /** The service's error code, e.g. `AuthenticationFailed`. */
    readonly errorCode?: string,
  ) {
    super(redact(message), storageCode(statusCode, errorCode));
  }
}

/** The SDK error code for a storage status: what a caller would do differently. */
function storageCode(status: number | undefined, errorCode: string | undefined): string {
  if (errorCode === 'AuthenticationFailed' || status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409 || status === 412) return 'FAILED_PRECONDITION';
  if (status === 400 || status === 413 || status === 416) return 'INVALID_ARGUMENT';
  return 'UNAVAILABLE';
}

/** Strips the query (SAS) from a URL so that it can be named in a message. */
export function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * Turns an error thrown by `@azure/storage-blob` (a `RestError`) or by fetch into a
 * `StorageError` that names `operation` and `target` (query string removed), keeping the
 * status and service code but nothing that could carry a credential. Abort errors pass
 * through unchanged so callers can tell cancellation apart.
 */
export function toStorageError(err: unknown, operation: string, target: string): Error {
  if (err instanceof SpillwayError) return err;
  const e = err as { name?: string; statusCode?: number; code?: string; details?: { errorCode?: string } };
  if (e?.name === 'AbortError') return err as Error;
  const errorCode = e?.details?.errorCode ?? (typeof e?.code === 'string' ? e.code : undefined);
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const what = [status !== undefined ? `status ${status}` : undefined, errorCode].filter(Boolean).join(' ');
  return new StorageError(
    `${operation} ${withoutQuery(target)} failed${what ? `: ${what}` : ''}`,
    status,
    errorCode,
  );
}

/** True for a write refused because the blob exists (409, or 412 for If-None-Match: *). */
export function isAlreadyExists(e: unknown): boolean {
  const status = (e as { statusCode?: number }).statusCode;
  return status === 409 || status === 412;
}

/** A blob's size, or undefined when it does not exist (one HEAD). */
export async function blobSize(
  blob: { getProperties(o: { abortSignal?: AbortSignal }): Promise<{ contentLength?: number }>; url: string },
  abortSignal?: AbortSignal,
): Promise<number | undefined> {
  try {
    return (await blob.getProperties({ abortSignal })).contentLength ?? -1;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw toStorageError(e, 'HEAD', blob.url);
  }
}
