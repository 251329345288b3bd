/**
 * Follows the service's frame events for one source and applies each to the render manager,
 * persisting the cursor after each event is applied, so a restarted bridge resumes exactly
 * where it stopped (an event is applied at least once; handlers are idempotent).
 *
 * The client's `watchFrames` already reconnects on UNAVAILABLE/INTERNAL from the last cursor;
 * this does not wrap it in another endless loop. It adds only what the client cannot know:
 * - the server ending the stream cleanly (it is restarting) → resume after a pause;
 * - a handler failing with a passing fault (the render manager is unreachable) → the same
 *   event again after a backoff, the cursor held back;
 * - a handler failing otherwise → logged with the event and skipped (the next
 *   start reconciles it), so one bad event never stalls every later one;
 * - the watch failing otherwise (UNAUTHENTICATED, INVALID_ARGUMENT...) → `run()` rejects.
 */
import {
  backoffMs,
  sleep,
  type BackoffOptions,
  type BurstClient,
  type FrameEvent,
  type Logger,
} from '@spillway/sdk';
import { isTransient } from './retry';

/** Options of a `FrameEventFollower`. */
export interface FrameEventFollowerOptions {
  /** The service client (only `watchFrames` is used). */
  readonly client: Pick<BurstClient, 'watchFrames'>;
  /** The frames' source, e.g. `deadline:studio`. */
  readonly source: string;
  /** The persisted cursor to resume after (`''` from the first retained event). */
  readonly cursor: () => string;
  /** Persists the cursor after its event was applied (or skipped). */
  readonly saveCursor: (cursor: string) => void;
  /** Applies one event. Must be idempotent: an event may be applied again after a crash. */
  readonly handle: (event: FrameEvent) => Promise<void>;
  /** Which handler failures deserve the same event again. @default `isTransient` */
  readonly isRetryable?: (err: unknown) => boolean;
  /** Pauses between attempts of one event, and before resuming a cleanly ended stream (`maxAttempts` is ignored: passing faults are retried until they pass or the follower stops). @default 200 ms doubling to 5 s */
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
  readonly abortSignal?: AbortSignal;
}

/** The follower. */
export class FrameEventFollower {
  private readonly backoff: BackoffOptions;

  constructor(private readonly options: FrameEventFollowerOptions) {
    this.backoff = { initialIntervalMs: 200, maxIntervalMs: 5000, ...options.backoff };
  }

  /** Runs until aborted (resolves) or the watch fails for good (rejects). */
  async run(): Promise<void> {
    const o = this.options;
    const signal = o.abortSignal;
    let ended = 0;
    while (!signal?.aborted) {
      for await (const ev of o.client.watchFrames({
        source: o.source,
        afterCursor: o.cursor(),
        ...(signal ? { abortSignal: signal } : {}),
        onReconnect: (cursor, attempt) => o.logger?.info('frame watch reconnected', { cursor, attempt }),
      })) {
        ended = 0;
        if (!(await this.apply(ev))) return; // aborted while retrying
        o.saveCursor(ev.cursor);
      }
      if (signal?.aborted) return;
      // The server ended the stream: it is stopping. Resume once it is back.
      ended += 1;
      o.logger?.info('frame watch ended by the service; resuming', { attempt: ended });
      await sleep(backoffMs(ended, this.backoff), signal);
    }
  }

  /** Applies one event; false when aborted before it was applied. */
  private async apply(ev: FrameEvent): Promise<boolean> {
    const o = this.options;
    const retryable = o.isRetryable ?? isTransient;
    for (let attempt = 1; ; attempt++) {
      if (o.abortSignal?.aborted) return false;
      try {
        await o.handle(ev);
        return true;
      } catch (err) {
        if (o.abortSignal?.aborted) return false;
        const fields = {
          frame: ev.frameId,
          job: ev.key.sourceJobId,
          task: ev.key.sourceTaskId,
          state: ev.state,
          error: (err as Error).message,
        };
        if (!retryable(err)) {
          o.logger?.error('frame event could not be applied; skipped; the next start reconciles it', fields);
          return true;
        }
        if (attempt === 1 || attempt % 10 === 0)
          o.logger?.warn('frame event not applied yet; retrying', { ...fields, attempt });
        await sleep(backoffMs(attempt, this.backoff), o.abortSignal);
      }
    }
  }
}
