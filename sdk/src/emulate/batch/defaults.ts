/**
 * The Batch emulator's defaults, in a module of their own so the CLI can show them without
 * loading the emulator.
 */
import type { EngineQuota } from '../../compute/local/engine';

/**
 * The account quotas the emulator enforces unless told otherwise. Batch's documented
 * defaults are ranges (active jobs and job schedules 100-300, pools 0-100, dedicated cores
 * 0-900, low-priority cores 0-100, lower in some regions): the emulator takes the strictest
 * job quota, so what runs here runs on any new account, and the largest of the others, which
 * a new account may have to ask for.
 */
export const DEFAULT_BATCH_QUOTA: Required<
  Pick<EngineQuota, 'activeJobs' | 'pools' | 'dedicatedCores' | 'lowPriorityCores'>
> = {
  activeJobs: 100,
  pools: 100,
  dedicatedCores: 900,
  lowPriorityCores: 100,
};
/** How long a resize keeps a pool `resizing` in the emulator unless told otherwise (real Batch: minutes). */
export const DEFAULT_RESIZE_TIME_MS = 2000;
