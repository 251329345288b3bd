/**
 * Whether the virtual host takes frames now (how much leaves the farm, OpenCue's way: Cuebot
 * books whole hosts, so the host opens or closes). Pure. (The service's plan will decide the
 * counts alone; the host then only opens while the plan offloads.)
 */

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
