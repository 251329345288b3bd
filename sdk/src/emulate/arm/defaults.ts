/** The ARM emulator's defaults, in a module of their own so the CLI can show them without loading it. */

/** Regional vCPU limits of the emulated subscription. */
export interface UsageLimits {
  /** "Total Regional vCPUs" (Regular priority). */
  readonly cores?: number;
  /** "Total Regional Low-priority vCPUs" (Spot). */
  readonly lowPriorityCores?: number;
}

/** The emulator's regional vCPU limits unless told otherwise (not Azure's: those vary by offer and region). */
export const DEFAULT_USAGE_LIMITS: Required<UsageLimits> = { cores: 350, lowPriorityCores: 350 };
