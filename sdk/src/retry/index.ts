/** The one retry (bounded attempts, backoff with jitter, a retryable predicate, abort) and the one sleep. */
export { backoffMs, DEFAULT_BACKOFF, retry, sleep, type BackoffOptions, type RetryOptions } from './retry';
