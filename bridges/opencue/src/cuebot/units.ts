/**
 * Cuebot's units, as pure conversions: cores travel as core units (100 per core) in host
 * reports, launched frames and subscriptions, as plain cores in `Host` and `Layer`; memory
 * travels in KB.
 */

/** Core units per core. */
export const CORE_UNITS_PER_CORE = 100;

/** Cores to core units, e.g. 1.5 -> 150. */
export function coresToUnits(cores: number): number {
  return Math.round(cores * CORE_UNITS_PER_CORE);
}

/** Core units to cores, e.g. 150 -> 1.5. */
export function unitsToCores(units: number): number {
  return units / CORE_UNITS_PER_CORE;
}

/** A host's core units as Cuebot computes them: `num_procs` x `cores_per_proc`. */
export function hostCoreUnits(host: { readonly num_procs: number; readonly cores_per_proc: number }): number {
  return host.num_procs * host.cores_per_proc;
}

/**
 * The `num_procs` / `cores_per_proc` pair that describes `cores` whole cores: one proc holding
 * them all (RQD reports `cores_per_proc` in core units).
 */
export function renderHostCores(cores: number): { num_procs: number; cores_per_proc: number } {
  if (!Number.isInteger(cores) || cores < 0)
    throw new RangeError(`cores must be a whole number >= 0 (got ${cores})`);
  return { num_procs: 1, cores_per_proc: cores * CORE_UNITS_PER_CORE };
}

/** Bytes to KB (rounded down). */
export function bytesToKb(bytes: number): number {
  return Math.floor(bytes / 1024);
}

/** KB to bytes. */
export function kbToBytes(kb: number): number {
  return kb * 1024;
}

/** Largest page Cuebot accepts in a frame query (its limit must be under 1000). */
export const MAX_FRAME_PAGE = 999;

/**
 * A frame's number and layer from its name, `0007-render` (or `-007-render` for -7).
 * @returns undefined when the name is not of that form
 */
export function parseFrameName(name: string): { number: number; layer: string } | undefined {
  const m = /^(-?\d+)-(.+)$/.exec(name);
  if (!m) return undefined;
  return { number: Number.parseInt(m[1]!, 10), layer: m[2]! };
}
