/**
 * Scenario files: one stretch of a studio's week (local farm, cloud, jobs), in the shape
 * of `scenarios/README.md` (repository root). Validated field by field before anything runs.
 */
import * as fs from 'node:fs';
import { ValidationError } from '../errors';

/** Reference frame time of a job's frames: normal, clipped at 10% of the mean. */
export interface FrameTimeSpec {
  /** Mean, seconds on a reference worker. */
  readonly mean: number;
  /** Standard deviation, seconds. */
  readonly stdev: number;
}

/** One job of a scenario. */
export interface ScenarioJob {
  /** Unique id. */
  readonly id: string;
  /** When it reaches the farm. */
  readonly submitAtSeconds: number;
  /** Number of frames. */
  readonly frames: number;
  /** Reference frame time. */
  readonly frameSeconds: FrameTimeSpec;
  /** 0..100, higher first. */
  readonly priority: number;
  /** When it must be done; absent: no target, never worth cloud money. */
  readonly deadlineAtSeconds?: number;
}

/** The cloud a scenario may burst to (one capacity group). */
export interface ScenarioCloud {
  /** Quota: nodes alive at once. */
  readonly maxNodes: number;
  /** From resize request to the node taking work (billed). */
  readonly nodeBootSeconds: number;
  /** Frame time multiplier on a cloud node (1 = reference). */
  readonly nodeSpeed: number;
  /** Currency units per dedicated node-hour. */
  readonly dedicatedPricePerHour: number;
  /** Currency units per spot node-hour. */
  readonly spotPricePerHour: number;
  /** Poisson eviction rate of a running spot node, per node-hour. */
  readonly spotEvictionsPerNodeHour: number;
  /** A node is billed per started interval of this length. */
  readonly billingGranularitySeconds: number;
  /** Assets in and outputs back, per frame run in the cloud. */
  readonly transferSecondsPerFrame: number;
}

/** A whole scenario file. */
export interface Scenario {
  /** Short name, e.g. `overnight-crunch`. */
  readonly name: string;
  /** One line for people. */
  readonly description: string;
  /** The simulation stops here at the latest. */
  readonly horizonSeconds: number;
  /** The on-prem farm. */
  readonly localFarm: {
    /** Workers, one frame at a time each. */
    readonly workers: number;
    /** Frame time multiplier on a local worker. */
    readonly speed: number;
  };
  /** The cloud. */
  readonly cloud: ScenarioCloud;
  /** Spend cap; absent: uncapped. */
  readonly budget?: {
    /** Cap on what the nodes alive at once cost per hour. */
    readonly maxSpendPerHour?: number;
  };
  /** The jobs. */
  readonly jobs: readonly ScenarioJob[];
  /** All randomness comes from this seed. */
  readonly seed: number;
}

type Obj = Record<string, unknown>;

function object(value: unknown, field: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ValidationError(field, value, 'must be an object');
  return value as Obj;
}

function num(
  o: Obj,
  key: string,
  field: string,
  rule: { min?: number; integer?: boolean; positive?: boolean; max?: number; optional?: boolean },
): number | undefined {
  const v = o[key];
  const path = field ? `${field}.${key}` : key;
  if (v === undefined && rule.optional) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ValidationError(path, v, 'must be a finite number');
  if (rule.integer && !Number.isInteger(v)) throw new ValidationError(path, v, 'must be an integer');
  if (rule.positive && v <= 0) throw new ValidationError(path, v, 'must be above 0');
  if (rule.min !== undefined && v < rule.min)
    throw new ValidationError(path, v, `must be at least ${rule.min}`);
  if (rule.max !== undefined && v > rule.max)
    throw new ValidationError(path, v, `must be at most ${rule.max}`);
  return v;
}

const req = (
  o: Obj,
  key: string,
  field: string,
  rule: { min?: number; integer?: boolean; positive?: boolean; max?: number } = {},
): number => num(o, key, field, rule) as number;

function str(o: Obj, key: string, field: string, optional = false): string {
  const v = o[key];
  if (v === undefined && optional) return '';
  if (typeof v !== 'string' || (!optional && v.length === 0))
    throw new ValidationError(field ? `${field}.${key}` : key, v, 'must be a non-empty string');
  return v;
}

/**
 * Validates parsed JSON as a scenario.
 * @param json - the parsed file
 * @param source - how to name the document in errors, e.g. its path
 * @throws ValidationError naming the field (e.g. `jobs[2].frames`) and quoting the value
 */
export function parseScenario(json: unknown, source = 'scenario'): Scenario {
  const root = object(json, source);
  const farm = object(root.localFarm, 'localFarm');
  const cloud = object(root.cloud, 'cloud');
  const budget = root.budget === undefined ? undefined : object(root.budget, 'budget');
  if (!Array.isArray(root.jobs)) throw new ValidationError('jobs', root.jobs, 'must be an array');
  const ids = new Set<string>();
  const jobs = root.jobs.map((j: unknown, i: number): ScenarioJob => {
    const f = `jobs[${i}]`;
    const o = object(j, f);
    const id = str(o, 'id', f);
    if (ids.has(id)) throw new ValidationError(`${f}.id`, id, 'must be unique among the jobs');
    ids.add(id);
    const ft = object(o.frameSeconds, `${f}.frameSeconds`);
    const submitAtSeconds = req(o, 'submitAtSeconds', f, { min: 0 });
    const deadlineAtSeconds = num(o, 'deadlineAtSeconds', f, { min: 0, optional: true });
    if (deadlineAtSeconds !== undefined && deadlineAtSeconds <= submitAtSeconds)
      throw new ValidationError(`${f}.deadlineAtSeconds`, deadlineAtSeconds, 'must be after submitAtSeconds');
    return {
      id,
      submitAtSeconds,
      frames: req(o, 'frames', f, { integer: true, positive: true }),
      frameSeconds: {
        mean: req(ft, 'mean', `${f}.frameSeconds`, { positive: true }),
        stdev: req(ft, 'stdev', `${f}.frameSeconds`, { min: 0 }),
      },
      priority: req(o, 'priority', f, { min: 0, max: 100 }),
      ...(deadlineAtSeconds === undefined ? {} : { deadlineAtSeconds }),
    };
  });
  const maxSpendPerHour = budget
    ? num(budget, 'maxSpendPerHour', 'budget', { positive: true, optional: true })
    : undefined;
  return {
    name: str(root, 'name', ''),
    description: str(root, 'description', '', true),
    horizonSeconds: req(root, 'horizonSeconds', '', { positive: true }),
    localFarm: {
      workers: req(farm, 'workers', 'localFarm', { integer: true, min: 0 }),
      speed: req(farm, 'speed', 'localFarm', { positive: true }),
    },
    cloud: {
      maxNodes: req(cloud, 'maxNodes', 'cloud', { integer: true, min: 0 }),
      nodeBootSeconds: req(cloud, 'nodeBootSeconds', 'cloud', { min: 0 }),
      nodeSpeed: req(cloud, 'nodeSpeed', 'cloud', { positive: true }),
      dedicatedPricePerHour: req(cloud, 'dedicatedPricePerHour', 'cloud', { min: 0 }),
      spotPricePerHour: req(cloud, 'spotPricePerHour', 'cloud', { min: 0 }),
      spotEvictionsPerNodeHour: req(cloud, 'spotEvictionsPerNodeHour', 'cloud', { min: 0 }),
      billingGranularitySeconds: req(cloud, 'billingGranularitySeconds', 'cloud', { positive: true }),
      transferSecondsPerFrame: req(cloud, 'transferSecondsPerFrame', 'cloud', { min: 0 }),
    },
    ...(maxSpendPerHour === undefined ? {} : { budget: { maxSpendPerHour } }),
    jobs,
    seed: req(root, 'seed', '', { integer: true }),
  };
}

/**
 * Reads and validates a scenario file.
 * @throws ValidationError for a missing file (field `scenario`), bad JSON or a bad field
 */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError('scenario', file, `cannot be read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ValidationError('scenario', file, `is not JSON: ${(err as Error).message}`);
  }
  return parseScenario(json, 'scenario');
}
