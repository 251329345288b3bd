/**
 * The burst planner's configuration keys (`burst.*` of the service configuration): which
 * planner, and the figures each capacity group is planned with until the service has
 * observed its own.
 */
import { ValidationError } from '../errors';
import type { PlannerName } from '../model/burst';

/** The figures a capacity group is planned with, as configured. */
export interface GroupFigures {
  /** From resize request to the node taking work, seconds. @default 420 */
  readonly nodeBootSeconds: number;
  /** Cloud frame time over local frame time of the same job. @default 1 */
  readonly cloudFrameTimeRatio: number;
  /** Assets in and outputs back, per frame, seconds. @default 10 */
  readonly transferSecondsPerFrame: number;
  /** Spot evictions per running node-hour. @default 0.05 */
  readonly spotEvictionsPerNodeHour: number;
  /** A node is billed per started interval of this many seconds. @default 60 */
  readonly billingGranularitySeconds: number;
  /**
   * Turnaround target for jobs without a deadline, seconds after submission; 0 means
   * "overflow as soon as a frame cannot start locally".
   * @default none (jobs without a deadline stay local)
   */
  readonly turnaroundTargetSeconds?: number;
}

/** The `burst` section of the service configuration. */
export interface BurstConfig {
  /**
   * `policy` (the burst policy) or `greedy` (the baseline that offloads whatever no idle
   * worker can take). Env `SPILLWAY_PLANNER`.
   * @default 'policy'
   */
  readonly planner: PlannerName;
  /** How often bridges are asked to report, milliseconds. @default 5000 */
  readonly reportIntervalMs: number;
  /** Figures of every group (`burst.groupDefaults.*`). */
  readonly groupDefaults: GroupFigures;
  /** Per group overrides (`burst.groups.<name>.*`). @default none */
  readonly groups: Readonly<Record<string, Partial<GroupFigures>>>;
}

/** The documented defaults of `burst.groupDefaults`. */
export const GROUP_FIGURE_DEFAULTS: GroupFigures = {
  nodeBootSeconds: 420,
  cloudFrameTimeRatio: 1,
  transferSecondsPerFrame: 10,
  spotEvictionsPerNodeHour: 0.05,
  billingGranularitySeconds: 60,
};

const FIGURES: readonly { key: keyof GroupFigures; min: number; max: number; positive?: boolean }[] = [
  { key: 'nodeBootSeconds', min: 0, max: 86_400 },
  { key: 'cloudFrameTimeRatio', min: 0, max: 100, positive: true },
  { key: 'transferSecondsPerFrame', min: 0, max: 86_400 },
  { key: 'spotEvictionsPerNodeHour', min: 0, max: 3600 },
  // Above 0, not 1: a time-compressed replay (`bench:live`) bills in fractions of a second.
  { key: 'billingGranularitySeconds', min: 0, max: 86_400, positive: true },
  { key: 'turnaroundTargetSeconds', min: 0, max: 365 * 86_400 },
];

function figures(raw: unknown, field: string): Partial<GroupFigures> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ValidationError(field, raw, 'must be an object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!FIGURES.some((f) => f.key === k))
      throw new ValidationError(
        `${field}.${k}`,
        o[k],
        `is not a known key (${FIGURES.map((f) => f.key).join(', ')})`,
      );
  const out: Record<string, number> = {};
  for (const f of FIGURES) {
    const v = o[f.key];
    if (v === undefined) continue;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < f.min || n > f.max || (f.positive && n <= 0))
      throw new ValidationError(
        `${field}.${f.key}`,
        v,
        `must be a number from ${f.min}${f.positive ? ' (exclusive)' : ''} to ${f.max}`,
      );
    out[f.key] = n;
  }
  return out;
}

/**
 * Reads the `burst` section.
 * @param get - the value at a dotted key of the configuration (overrides, then the
 *   environment for `burst.planner` (`SPILLWAY_PLANNER`), then the file)
 * @throws ValidationError naming the key and quoting the value
 */
export function parseBurstConfig(get: (key: string) => unknown): BurstConfig {
  const plannerRaw = get('burst.planner');
  let planner: PlannerName = 'policy';
  if (plannerRaw !== undefined && plannerRaw !== '') {
    if (plannerRaw !== 'policy' && plannerRaw !== 'greedy')
      throw new ValidationError('burst.planner', plannerRaw, 'must be one of "policy", "greedy"');
    planner = plannerRaw;
  }
  const intervalRaw = get('burst.reportIntervalMs');
  const interval = intervalRaw === undefined ? 5000 : Number(intervalRaw);
  if (!Number.isInteger(interval) || interval < 100 || interval > 600_000)
    throw new ValidationError(
      'burst.reportIntervalMs',
      intervalRaw,
      'must be a whole number from 100 to 600000',
    );
  const groupsRaw = get('burst.groups');
  if (
    groupsRaw !== undefined &&
    (typeof groupsRaw !== 'object' || groupsRaw === null || Array.isArray(groupsRaw))
  )
    throw new ValidationError('burst.groups', groupsRaw, 'must be an object of group name to figures');
  const groups: Record<string, Partial<GroupFigures>> = {};
  for (const [name, raw] of Object.entries((groupsRaw ?? {}) as Record<string, unknown>))
    groups[name] = figures(raw, `burst.groups.${name}`);
  return {
    planner,
    reportIntervalMs: interval,
    // Each default is its own key (`burst.groupDefaults.nodeBootSeconds`), so a dotted
    // override or environment layer reaches it and a misspelt one is refused by name.
    groupDefaults: {
      ...GROUP_FIGURE_DEFAULTS,
      ...figures(
        Object.fromEntries(
          FIGURES.map((f) => [f.key, get(`burst.groupDefaults.${f.key}`)]).filter(([, v]) => v !== undefined),
        ),
        'burst.groupDefaults',
      ),
    },
    groups,
  };
}

/** A group's configured figures: its overrides over the defaults. */
export function figuresOf(config: BurstConfig, group: string): GroupFigures {
  return { ...config.groupDefaults, ...(config.groups[group] ?? {}) };
}
