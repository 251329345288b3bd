/**
 * The virtual host's decisions as pure functions: when to take frames, what to report in
 * Cuebot's units, and which deadline a frame's job has.
 */
import type { CoreDetail } from '../proto';

/** What the host decides from. */
export interface OpenInput {
  /** Idle cores on UP, OPEN hosts of the local allocations. */
  readonly localIdleCores: number;
  /** Waiting frames that only the burst host may take (layers tagged burst). */
  readonly burstableWaiting: number;
  /** Frames the service's plan wants offloaded now, over every job. */
  readonly planOffload: number;
  /** Core units booked on this host. */
  readonly bookedUnits: number;
  /** Core units this host has. */
  readonly totalUnits: number;
}

/**
 * Whether the host takes more frames: only while the local allocations are saturated (no
 * idle core), burstable frames wait, the service's plan allows offloading, and the host has
 * room.
 */
export function shouldOpen(input: OpenInput): { open: boolean; reason: string } {
  if (input.localIdleCores >= 1)
    return { open: false, reason: `local farm has ${input.localIdleCores} idle cores` };
  if (input.burstableWaiting <= 0) return { open: false, reason: 'no burstable frame waits' };
  if (input.planOffload <= 0) return { open: false, reason: 'the service plan offloads nothing now' };
  if (input.bookedUnits >= input.totalUnits)
    return { open: false, reason: 'every core of the host is booked' };
  return { open: true, reason: `local farm saturated; plan offloads ${input.planOffload} frames` };
}

/**
 * The host's cores as Cuebot reads them (core units). A closed host reports every core
 * locked, which Cuebot turns into LOCKED (no booking); running frames go on.
 */
export function coreDetail(totalUnits: number, bookedUnits: number, open: boolean): CoreDetail {
  const booked = Math.min(bookedUnits, totalUnits);
  return {
    total_cores: totalUnits,
    idle_cores: open ? totalUnits - booked : 0,
    locked_cores: open ? 0 : totalUnits,
    booked_cores: booked,
  };
}

/** The environment variable a job sets to carry its deadline (ISO 8601, or epoch seconds). */
export const DEADLINE_ENV = 'SPILLWAY_DEADLINE';

/**
 * A job's deadline: from the job where it carries one (`SPILLWAY_DEADLINE` in its
 * environment; Cuebot's Job message has no deadline field), else submission plus the
 * turnaround.
 */
export function jobDeadline(
  submittedEpochSeconds: number,
  turnaroundSeconds: number,
  environment: Readonly<Record<string, string>> = {},
): Date {
  const carried = environment[DEADLINE_ENV];
  if (carried !== undefined && carried.trim() !== '') {
    const t = /^\d+$/.test(carried.trim()) ? Number(carried) * 1000 : Date.parse(carried);
    if (Number.isFinite(t)) return new Date(t);
  }
  return new Date((submittedEpochSeconds + turnaroundSeconds) * 1000);
}

/**
 * The service-side job of one launch: each launch of a frame is its own cloud job, so a
 * kill cancels exactly that frame and a relaunch after a kill runs again.
 */
export function cloudJobId(cueJobId: string, frameId: string, generation: number): string {
  return `${cueJobId}/${frameId}/${generation}`;
}
