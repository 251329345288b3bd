import type { FaultKind } from '../backend';
import { SpillwayError } from '../../errors';
import type { BackoffOptions } from '../../retry';

/**
 * An error Azure Batch answered (or a transport failure talking to it), with Batch's own
 * error code (`TaskExists`, `PoolNotFound`, `AccountCoreQuotaReached`, ...), the HTTP status
 * and Batch's message. Never carries credentials, request headers or request bodies.
 */
export class BatchError extends SpillwayError {
  constructor(
    /** Batch error code, or `NetworkError` / `RequestAborted` for transport failures. */
    code: string,
    message: string,
    /** HTTP status; undefined for transport failures. */
    readonly statusCode?: number,
    /** Batch's detail values (`PropertyName`, ...). */
    readonly values: readonly { readonly key: string; readonly value: string }[] = [],
  ) {
    super(message, code);
  }
}

const NETWORK_CODES = new Set([
  'REQUEST_SEND_ERROR',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

interface RawRestError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  body?: unknown;
  name?: unknown;
}

/** Turns whatever the Batch client threw into a BatchError (keeps only code, status and Batch's message). */
export function toBatchError(e: unknown): BatchError {
  if (e instanceof BatchError) return e;
  const raw = (e ?? {}) as RawRestError;
  const status = typeof raw.statusCode === 'number' ? raw.statusCode : undefined;
  let message = '';
  let values: { key: string; value: string }[] = [];
  const body = raw.body as { message?: unknown; values?: unknown } | undefined;
  const msg = (raw.message ?? body?.message) as unknown;
  if (msg && typeof msg === 'object' && typeof (msg as { value?: unknown }).value === 'string') {
    message = (msg as { value: string }).value;
  } else if (typeof msg === 'string') message = msg;
  if (body && Array.isArray(body.values)) {
    values = (body.values as { key?: unknown; value?: unknown }[])
      .filter((v) => typeof v.key === 'string')
      .map((v) => ({ key: String(v.key), value: String(v.value ?? '') }));
  }
  // The first line is Batch's sentence; RequestId and Time follow on the next lines.
  const [first, ...rest] = message.split('\n');
  const requestId = rest.find((l) => l.startsWith('RequestId:'));
  let code = typeof raw.code === 'string' && raw.code !== '' ? raw.code : undefined;
  if (status === undefined) {
    if (raw.name === 'AbortError' || code === 'REQUEST_ABORTED_ERROR') code = 'RequestAborted';
    else code = 'NetworkError';
    return new BatchError(
      code,
      `Azure Batch could not be reached: ${first?.replace(/https?:\/\/\S+/g, '<url>') || 'transport failure'}`,
    );
  }
  code ??= `Http${status}`;
  const detail = values.length ? ` (${values.map((v) => `${v.key}=${v.value}`).join(', ')})` : '';
  return new BatchError(
    code,
    `Azure Batch answered ${status} ${code}: ${first ?? ''}${detail}${requestId ? ` [${requestId}]` : ''}`,
    status,
    values,
  );
}

/** How calls to Batch back off: 6 attempts, 200 ms first pause doubling to 10 s, full jitter. */
export const BATCH_BACKOFF: Required<BackoffOptions> = Object.freeze({
  maxAttempts: 6,
  initialIntervalMs: 200,
  factor: 2,
  maxIntervalMs: 10_000,
  maxJitter: 1,
});

/** Faults worth retrying: 503 ServerBusy, 500 OperationTimedOut/InternalError, 408, 429 and transport failures. */
export function isRetryable(e: unknown): boolean {
  const raw = (e ?? {}) as RawRestError;
  const status = typeof raw.statusCode === 'number' ? raw.statusCode : undefined;
  if (status === undefined) {
    if (raw.name === 'AbortError') return false;
    const code = typeof raw.code === 'string' ? raw.code : '';
    if (e instanceof BatchError) return e.code === 'NetworkError';
    return (
      NETWORK_CODES.has(code) ||
      code === 'REQUEST_ABORTED_ERROR' ||
      /socket hang up|ECONNRESET|network/i.test(String(raw.message ?? ''))
    );
  }
  return (
    status === 503 || status === 500 || status === 408 || status === 429 || status === 502 || status === 504
  );
}

/**
 * What a Batch error means for the frames of the call (see `FaultKind`): the account's
 * active-job quota full (`ActiveJobAndScheduleQuotaReached`) is `wait` (it clears as the
 * account's jobs end), {@link isRetryable} faults are `retry`, the rest `fail`.
 */
export function batchFaultKind(e: unknown): FaultKind {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (code === 'ActiveJobAndScheduleQuotaReached') return 'wait';
  return isRetryable(e) ? 'retry' : 'fail';
}
