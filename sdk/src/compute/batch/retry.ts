import { isRetryable, toBatchError } from './errors';

/** Retry policy for calls to Batch. */
export interface RetryOptions {
  /** Attempts in all (first try included). @default 6 */
  readonly maxAttempts?: number;
  /** First backoff; doubles each attempt. @default 200 */
  readonly baseDelayMs?: number;
  /** Backoff cap. @default 10000 */
  readonly maxDelayMs?: number;
}

/** Sleeps, or rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Backoff of attempt `n` (1-based): exponential with full jitter, capped. */
export function backoffMs(
  attempt: number,
  options: RetryOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseDelayMs ?? 200;
  const cap = options.maxDelayMs ?? 10_000;
  return Math.round(random() * Math.min(cap, base * 2 ** (attempt - 1)));
}

/**
 * Runs `fn`, retrying retryable faults with backoff and jitter; other errors, and the last
 * retryable one, are thrown as BatchErrors. Stops at once when the signal aborts.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions & {
    abortSignal?: AbortSignal;
    onRetry?: (error: unknown, attempt: number) => void;
  } = {},
): Promise<T> {
  const max = options.maxAttempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    options.abortSignal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (e) {
      if (options.abortSignal?.aborted) throw options.abortSignal.reason;
      if (!isRetryable(e) || attempt >= max) throw toBatchError(e);
      options.onRetry?.(e, attempt);
      await sleep(backoffMs(attempt, options), options.abortSignal);
    }
  }
}

/** Runs `fn` over items with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return out;
}
