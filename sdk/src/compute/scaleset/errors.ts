/**
 * ARM errors as typed errors. The Azure SDK's `RestError` carries the request (with its
 * `Authorization` header) and the raw response; an `ArmError` keeps only the ARM code,
 * the HTTP status and a redacted message, so nothing secret can leak through it.
 */
import { SpillwayError } from '../../errors';
import { redactKnown } from '../../logging/redact';

/** An error Azure Resource Manager answered, with its ARM error code. */
export class ArmError extends SpillwayError {
  constructor(
    message: string,
    /** The ARM error code, e.g. `OperationNotAllowed`, `ResourceNotFound`, `TooManyRequests`. */
    code: string,
    /** The HTTP status, when the error came from a response. */
    readonly statusCode?: number,
  ) {
    super(message, code);
  }
}

interface RestErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly statusCode?: number;
}

/** core-lro reports a failed operation as `The long-running operation has failed. CODE. message`. */
const LRO_FAILED = /^The long-running operation has failed\. ([^.\s]+)\. ?([\s\S]*)$/;

/** True when `err` is an abort (the caller's AbortSignal fired). */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Maps an error from `@azure/arm-compute` to an `ArmError`; aborts and SDK errors pass through. */
export function toArmError(err: unknown, what: string): unknown {
  if (isAbort(err) || err instanceof SpillwayError || !(err instanceof Error)) return err;
  const e = err as RestErrorLike;
  if (e.name === 'RestError') {
    const status = e.statusCode;
    const code = e.code ?? (status !== undefined ? `Http${status}` : 'RequestFailed');
    return new ArmError(
      `${what}: ${redactKnown(e.message ?? 'request failed')} (ARM ${code}${status ? `, HTTP ${status}` : ''})`,
      code,
      status,
    );
  }
  const lro = LRO_FAILED.exec(err.message);
  if (lro) {
    const code = lro[1]!;
    return new ArmError(`${what}: ${redactKnown(lro[2] || 'the operation failed')} (ARM ${code})`, code);
  }
  return new ArmError(`${what}: ${redactKnown(err.message)}`, 'RequestFailed');
}
