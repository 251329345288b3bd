import { SpillwayError, ValidationError } from '@spillway/sdk';

/** The Web Service answered with an error status, or could not be reached. */
export class DeadlineRequestError extends SpillwayError {
  constructor(
    /** `METHOD /path` (no query values that could carry secrets; Deadline's carry none). */
    readonly request: string,
    /** HTTP status; 0 when no answer came (connection refused, timeout). */
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Deadline Web Service ${request}: ${message}`,
      status === 401 ? 'UNAUTHENTICATED' : 'DEADLINE_REQUEST',
      options,
    );
  }

  /** True for faults worth another attempt: no answer, 408, 429, 502, 503, 504. */
  get retryable(): boolean {
    return this.status === 0 || [408, 429, 502, 503, 504].includes(this.status);
  }
}

/**
 * The Web Service answered, but not with what the API answers: an HTML page (a proxy or a
 * login page), truncated or invalid JSON, or JSON of the wrong shape (a job without `_id`).
 * Worth another attempt later (a proxy's error page passes); the bridge logs it once per
 * episode.
 */
export class DeadlineAnswerError extends DeadlineRequestError {
  constructor(
    request: string,
    status: number,
    /** What kind of nonsense: `html`, `not-json`, `empty` or `shape`. */
    readonly problem: 'html' | 'not-json' | 'empty' | 'shape',
    message: string,
  ) {
    super(request, status, message);
  }

  override get retryable(): boolean {
    return true;
  }
}

/**
 * A task command with an empty or missing task list: Deadline would apply it to EVERY task
 * of the job, so the client refuses it before sending anything.
 */
export class EmptyTaskListError extends ValidationError {
  constructor(command: string, jobId: string, value: unknown) {
    super(
      'TaskList',
      value,
      `a "${command}" task command for job ${jobId} needs at least one task id; Deadline applies an empty list to every task of the job, so nothing was sent`,
    );
  }
}
