/**
 * Waiting between attempts, for the bridges' clients and loops: one sleep that an abort ends
 * early, one exponential backoff with jitter, and one "is this worth another attempt" test
 * that walks the `cause` chain. (When the SDK offers its own retry module, these defer to it.)
 */
import { BurstServiceError } from '@spillway/sdk';

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Options of `backoffMs`. */
export interface BackoffOptions {
  /** The first pause. @default 200 */
  readonly initialMs?: number;
  /** The longest pause. @default 5000 */
  readonly maxMs?: number;
}

/** The pause before attempt `attempt + 1` (1-based): doubling, capped, jittered to 50-100%. */
export function backoffMs(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const step = Math.min(options.maxMs ?? 5000, (options.initialMs ?? 200) * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.5 + random() / 2));
}

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
