/**
 * The one retry of the SDK: bounded attempts, exponential backoff with jitter, a retryable
 * predicate chosen by the caller, and an abort path. Modelled on Temporal's
 * `grpc-retry.ts`: retry is one replaceable piece, and nothing retries every error forever.
 */

/** How long to wait between attempts: `min(maxIntervalMs, initialIntervalMs * factor^(n-1))`, jittered. */
export interface BackoffOptions {
  /** Attempts in all, the first included. @default 4 */
  readonly maxAttempts?: number;
  /** Pause after the first failed attempt, before jitter. @default 100 */
  readonly initialIntervalMs?: number;
  /** Growth of the pause per failed attempt. @default 2 */
  readonly factor?: number;
  /** Longest pause, before jitter. @default 5000 */
  readonly maxIntervalMs?: number;
  /**
   * Share of each pause that is random: the pause is uniform in `[(1 - maxJitter) * step,
   * step]`, so callers that fail together do not retry together. 1 is "full jitter".
   * @default 0.5
   */
  readonly maxJitter?: number;
}

/** Options of {@link retry}. */
export interface RetryOptions extends BackoffOptions {
  /**
   * Whether the error of failed attempt `attempt` (1-based) is worth another attempt.
   * Required: only the caller knows which faults are transient and which calls are safe
   * to repeat.
   */
  readonly retryable: (error: unknown, attempt: number) => boolean;
  /** Stops at once: no further attempt, no further pause (see {@link retry} for what it throws). @default none */
  readonly abortSignal?: AbortSignal;
  /** Called before each pause, with the error, the attempt that failed and the pause. @default none */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /**
   * A pause the server asked for (e.g. `Retry-After`), used instead of the backoff when it
   * returns a number; capped at `maxIntervalMs`. @default the backoff
   */
  readonly delayOf?: (error: unknown, attempt: number) => number | undefined;
  /** Source of randomness for the jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = Object.freeze({
  maxAttempts: 4,
  initialIntervalMs: 100,
  factor: 2,
  maxIntervalMs: 5000,
  maxJitter: 0.5,
});

/** The pause after failed attempt `attempt` (1-based), in milliseconds. */
export function backoffMs(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialIntervalMs ?? DEFAULT_BACKOFF.initialIntervalMs;
  const factor = options.factor ?? DEFAULT_BACKOFF.factor;
  const cap = options.maxIntervalMs ?? DEFAULT_BACKOFF.maxIntervalMs;
  const jitter = Math.min(1, Math.max(0, options.maxJitter ?? DEFAULT_BACKOFF.maxJitter));
  const step = Math.min(cap, initial * factor ** Math.max(0, attempt - 1));
  return Math.round(step * (1 - jitter * random()));
}

/**
 * Runs `fn` (given the 1-based attempt number) until it resolves, its error is not
 * retryable or `maxAttempts` is reached (that error is thrown as it is), or the signal
 * aborts: an attempt that fails once the signal has aborted is not retried and its error
 * is thrown (the caller maps it, e.g. to CANCELLED); an abort before an attempt or during
 * a pause throws the signal's reason.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const max = Math.max(1, options.maxAttempts ?? DEFAULT_BACKOFF.maxAttempts);
  const signal = options.abortSignal;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted || attempt >= max || !options.retryable(error, attempt)) throw error;
      const asked = options.delayOf?.(error, attempt);
      const cap = options.maxIntervalMs ?? DEFAULT_BACKOFF.maxIntervalMs;
      const delay =
        asked !== undefined && Number.isFinite(asked) && asked >= 0
          ? Math.min(asked, cap)
          : backoffMs(attempt, options, options.random);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once when it already has). It
 * never rejects, so a polling loop reads `while (!signal.aborted) { ...; await sleep(ms,
 * signal); }`; code that must not go on after an abort checks the signal, as `retry` does.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}
