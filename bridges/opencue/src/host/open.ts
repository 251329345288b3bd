/**
 * Whether the virtual host takes frames now, and how many: OpenCue's way of carrying out the
 * service's plan (Cuebot books frames onto hosts with idle cores, so the host offers as many
 * idle cores as the plan offloads frames). Pure. The plan decides how many frames leave (the
 * burst policy, which already counts the local farm's idle cores); the host only carries
 * that count out.
 */
import { CORE_UNITS_PER_CORE } from '../cuebot';

/** What the host decides from. */
export interface OpenInput {
  /** Waiting frames that only the burst host may take (layers tagged burst). */
  readonly burstableWaiting: number;
  /** Frames the service's plan offloads now, over every job. */
  readonly planOffload: number;
  /** Core units booked on this host. */
  readonly bookedUnits: number;
  /** Core units this host has. */
  readonly totalUnits: number;
}

/**
 * Open while the plan offloads frames, burstable frames wait and the host has room; it
 * offers one core per frame the plan offloads (Cuebot books a frame on at least one core),
 * no more than it has free.
 */
export function shouldOpen(input: OpenInput): { open: boolean; offerUnits: number; reason: string } {
  const closed = (reason: string) => ({ open: false, offerUnits: 0, reason });
  if (input.planOffload <= 0) return closed('the service plan offloads nothing now');
  if (input.burstableWaiting <= 0) return closed('no burstable frame waits');
  const free = input.totalUnits - input.bookedUnits;
  if (free <= 0) return closed('every core of the host is booked');
  const offerUnits = Math.min(free, input.planOffload * CORE_UNITS_PER_CORE);
  return {
    open: true,
    offerUnits,
    reason: `the plan offloads ${input.planOffload} frames: ${offerUnits / CORE_UNITS_PER_CORE} cores offered`,
  };
}
