/**
 * The virtual host's rules as pure functions: what to report in Cuebot's units, which
 * deadline a frame's job has, and the cloud job of a launch. (Whether to take frames is
 * `open.ts`; the farm report is `report.ts`.)
 */
import { jobDeadline as deadlineRule } from '@spillway/bridge-kit';
import type { CoreDetail } from '../proto';

/**
 * The host's cores as Cuebot reads them (core units). A closed host reports every core
 * locked, which Cuebot turns into LOCKED (no booking); running frames go on. An open host
 * offers `offerUnits` of its free cores as idle (the plan's count) and locks the rest.
 * @default offerUnits every free core
 */
export function coreDetail(
  totalUnits: number,
  bookedUnits: number,
  open: boolean,
  offerUnits = Infinity,
): CoreDetail {
  const booked = Math.min(bookedUnits, totalUnits);
  const idle = open ? Math.max(0, Math.min(totalUnits - booked, offerUnits)) : 0;
  return {
    total_cores: totalUnits,
    idle_cores: idle,
    locked_cores: open ? totalUnits - booked - idle : totalUnits,
    booked_cores: booked,
  };
}

/**
 * The exit status a recalled frame is reported with: Cuebot's `FrameExitStatus.SKIP_RETRY`.
 * Cuebot turns a frame reported with it back to WAITING whatever its retries, and does not
 * count it as a retry when it next starts.
 */
export const RECALLED_EXIT_STATUS = 286;

/** The environment variable a job sets to carry its deadline (ISO 8601, or epoch seconds). */
export const DEADLINE_ENV = 'SPILLWAY_DEADLINE';

/**
 * A job's deadline: from the job where it carries one (`SPILLWAY_DEADLINE` in its
 * environment, ISO 8601 or epoch seconds; Cuebot's Job message has no deadline field), else
 * submission plus the turnaround (the bridge kit's rule).
 */
export function jobDeadline(
  submittedEpochSeconds: number,
  turnaroundSeconds: number,
  environment: Readonly<Record<string, string>> = {},
): Date {
  const submittedAt = new Date(submittedEpochSeconds * 1000);
  return deadlineRule({
    carried: environment[DEADLINE_ENV],
    submittedAt,
    firstSeen: submittedAt,
    turnaroundSeconds,
  });
}

/**
 * The service-side job of one launch: each launch of a frame is its own cloud job, so a
 * kill cancels exactly that frame and a relaunch after a kill runs again.
 */
export function cloudJobId(cueJobId: string, frameId: string, generation: number): string {
  return `${cueJobId}/${frameId}/${generation}`;
}
