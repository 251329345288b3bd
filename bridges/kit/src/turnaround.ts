/**
 * The deadline rule every bridge reports for the policy: a job's own deadline where it carries
 * one (an ISO-8601 time or epoch seconds, in whatever field its render manager allows), else
 * its submission time plus the studio's turnaround. A job whose submission time is unknown
 * counts from when the bridge first saw it.
 */

/** What a job's deadline is made from. */
export interface DeadlineInput {
  /** The deadline the job carries (ISO 8601, or epoch seconds); blank or unparsable is ignored. @default none */
  readonly carried?: string;
  /** When the job was submitted. @default `firstSeen` */
  readonly submittedAt?: Date;
  /** When the bridge first saw the job. */
  readonly firstSeen: Date;
  /** The studio's turnaround for jobs carrying no deadline. */
  readonly turnaroundSeconds: number;
}

/** Parses a carried deadline: ISO 8601 or whole epoch seconds; undefined when it is neither. */
export function parseCarriedDeadline(value: string | undefined): Date | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** A job's deadline for the policy. Pure. */
export function jobDeadline(input: DeadlineInput): Date {
  const carried = parseCarriedDeadline(input.carried);
  if (carried) return carried;
  return new Date((input.submittedAt ?? input.firstSeen).getTime() + input.turnaroundSeconds * 1000);
}

/** Remembers when each job was first seen (for jobs without a submission time). */
export class FirstSeen {
  private readonly seen = new Map<string, Date>();

  /** When `jobId` was first asked about (now, the first time). */
  of(jobId: string, now: () => Date = () => new Date()): Date {
    let d = this.seen.get(jobId);
    if (!d) this.seen.set(jobId, (d = now()));
    return d;
  }

  /** Forgets jobs that are gone. */
  retain(live: ReadonlySet<string>): void {
    for (const id of this.seen.keys()) if (!live.has(id)) this.seen.delete(id);
  }
}
