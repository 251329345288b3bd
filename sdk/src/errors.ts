/**
 * Errors the SDK raises where a caller would act differently. Messages say what was
 * wrong, with which value, and what to do; they never carry a secret.
 */

/** Base class: every SDK error has a stable `code`. */
export class SpillwayError extends Error {
  constructor(
    message: string,
    /** Stable machine-readable code. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input: names the field (a path such as `job.frames[3].frame_end`) and quotes the value. */
export class ValidationError extends SpillwayError {
  constructor(
    /** Path of the offending field. */
    readonly field: string,
    /** The offending value. */
    readonly value: unknown,
    /** What is wrong and what would be right. */
    readonly reason: string,
  ) {
    super(`${field}: ${reason} (got ${quote(value)})`, 'INVALID_ARGUMENT');
  }
}

/** Something named does not exist. */
export class NotFoundError extends SpillwayError {
  constructor(message: string) {
    super(message, 'NOT_FOUND');
  }
}

/** The request is valid but the system is not in a state to do it. */
export class FailedPreconditionError extends SpillwayError {
  constructor(message: string) {
    super(message, 'FAILED_PRECONDITION');
  }
}

/** A limit was reached (quota, budget, concurrent streams). */
export class ResourceExhaustedError extends SpillwayError {
  constructor(message: string) {
    super(message, 'RESOURCE_EXHAUSTED');
  }
}

/** Missing or wrong credentials. */
export class UnauthenticatedError extends SpillwayError {
  constructor(message: string) {
    super(message, 'UNAUTHENTICATED');
  }
}

/** A short, safe rendering of a bad value for an error message. */
export function quote(value: unknown): string {
  let s: string;
  try {
    s = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
