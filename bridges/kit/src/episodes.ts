/**
 * Problems logged once per episode: a render manager that answers nonsense (an HTML page,
 * truncated or wrong-shaped JSON) or not at all is reported when the problem starts or
 * changes, not on every poll, and once more when it is over.
 */
import type { Logger } from '@spillway/sdk';

/** Logs each problem once per episode. */
export class Episodes {
  private readonly open = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  /**
   * Reports a problem with `topic` (e.g. `deadline`). Logged as a warning when it starts or its
   * `kind` changes; repeats are logged at debug level only.
   */
  problem(topic: string, kind: string, message: string, fields: Record<string, unknown> = {}): void {
    if (this.open.get(topic) === kind) {
      this.logger.debug(message, { ...fields, repeated: true });
      return;
    }
    this.open.set(topic, kind);
    this.logger.warn(message, { ...fields, note: 'logged once until it changes or recovers' });
  }

  /** Ends the episode of `topic`, logging `message` when there was one. */
  recovered(topic: string, message: string, fields: Record<string, unknown> = {}): void {
    if (!this.open.delete(topic)) return;
    this.logger.info(message, fields);
  }

  /** Whether `topic` has a problem now. */
  has(topic: string): boolean {
    return this.open.has(topic);
  }
}
