/**
 * Which faults a bridge tries again: one "is this a passing fault" test that walks the
 * `cause` chain. Waiting and backing off are the SDK's one `sleep`, `backoffMs` and `retry`.
 */
import { BurstServiceError } from '@spillway/sdk';

/** gRPC status names of service answers worth another attempt. */
const TRANSIENT_CODES = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'ABORTED']);

/**
 * True when `err` (or an error in its `cause` chain) is a passing fault: an error that says so
 * itself (`retryable: true`, as the render-manager clients' errors do) or a Spillway service
 * answer of UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED or ABORTED.
 */
export function isTransient(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const r = (e as { retryable?: unknown }).retryable;
    if (typeof r === 'boolean') return r;
    if (e instanceof BurstServiceError) return TRANSIENT_CODES.has(e.code);
  }
  return false;
}
