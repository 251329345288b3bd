/**
 * How often the Batch backend polls task state: quickly while tasks run or just changed
 * (a completion is then seen within `activeMs`), backing off to `idleMs` while nothing
 * moves, so an idle account costs few calls.
 */

/** Poll intervals of the Batch backend's monitoring. */
export interface PollIntervals {
  /** Interval while a watched job has tasks running or queued, or the last poll saw a change. */
  readonly activeMs: number;
  /** Longest interval, reached by doubling while nothing moves. */
  readonly idleMs: number;
}

/**
 * The delay before the next poll: `activeMs` after a busy poll, else the previous delay
 * doubled, between `activeMs` and `idleMs`.
 */
export function nextPollDelay(previousMs: number, busy: boolean, intervals: PollIntervals): number {
  const floor = Math.min(intervals.activeMs, intervals.idleMs);
  if (busy) return floor;
  return Math.min(intervals.idleMs, Math.max(floor, previousMs * 2));
}
