/**
 * The virtual host's configuration: a JSON file (`--config FILE`) under command-line flags,
 * which win. Validated before anything starts; an error names the key and quotes the value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStateDir, parsePathRule } from '@spillway/bridge-kit';
import { ValidationError } from '@spillway/sdk';
import { parseHostPort } from '../cuebot/client';
import { validatePathRules, type PathRule } from './paths';

/** Everything the virtual host runs with. */
export interface VirtualHostConfig {
  /** `host:port` of Cuebot. */
  readonly cuebot: string;
  /** `host:port` of the Spillway service. */
  readonly service: string;
  /** The name Cuebot knows this host by, and dials back on `rqdPort`. */
  readonly hostName: string;
  /** The farm-wide RQD port Cuebot dials hosts on. @default 8444 */
  readonly rqdPort: number;
  /** Address the RQD server binds. @default '0.0.0.0' */
  readonly rqdListenHost: string;
  /** Facility of the burst allocation. @default 'cloud' */
  readonly facility: string;
  /** Host tags; layers tagged with one of them may overflow. The first is the allocation's tag. @default ['burst'] */
  readonly tags: readonly string[];
  /** Short name of the burst allocation (`facility.allocation`). @default 'burst' */
  readonly allocation: string;
  /** Cores the host offers at most (cloud frames running or queued at once). @default 16 */
  readonly cores: number;
  /** Memory the host reports, in GiB (Cuebot books by memory too). @default 256 */
  readonly memoryGb: number;
  /** How often the host reports status and asks the service for a plan. @default 5000 */
  readonly reportIntervalMs: number;
  /** Deadline of a job that carries none: submission plus this. @default 7200 */
  readonly turnaroundSeconds: number;
  /** Where the host keeps its state `<hostName>.json` (frame <-> cloud frame, watch cursor). @default `$SPILLWAY_DATA_DIR/bridges/opencue`, else `~/.spillway/bridges/opencue` */
  readonly stateDir: string;
  /** The service's capacity group. @default the service's default group */
  readonly capacityGroup?: string;
  /** File holding the service's bearer token. @default none */
  readonly tokenFile?: string;
  /** Shows to subscribe to the burst allocation (size 0, burst = `cores`) if not yet. @default none */
  readonly subscribeShows: readonly string[];
  /**
   * Farm path prefix -> cloud path prefix, applied to each launched frame's command and
   * environment (flag: `--path-map FROM=TO`, repeatable). @default none (same paths)
   */
  readonly pathMap: readonly PathRule[];
  /**
   * Worker-burst capacity groups whose cloud RQD hosts join this Cuebot: the bridge reports
   * them to the service and locks, unlocks, stops the frames of and deletes them as it answers
   * (flag: `--worker-group NAME`, repeatable). @default [] (none)
   */
  readonly workerGroups: readonly string[];
  /** @default 'info' */
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Defaults of every optional key. */
export const CONFIG_DEFAULTS = {
  rqdPort: 8444,
  rqdListenHost: '0.0.0.0',
  facility: 'cloud',
  tags: ['burst'],
  allocation: 'burst',
  cores: 16,
  memoryGb: 256,
  reportIntervalMs: 5000,
  turnaroundSeconds: 7200,
  subscribeShows: [] as string[],
  pathMap: [] as PathRule[],
  workerGroups: [] as string[],
  logLevel: 'info',
} as const;

const KEYS = new Set([
  'cuebot',
  'service',
  'hostName',
  'rqdPort',
  'rqdListenHost',
  'facility',
  'tags',
  'allocation',
  'cores',
  'memoryGb',
  'reportIntervalMs',
  'turnaroundSeconds',
  'stateDir',
  'capacityGroup',
  'tokenFile',
  'subscribeShows',
  'pathMap',
  'workerGroups',
  'logLevel',
]);

/** Reads a JSON config file; an unknown key or bad JSON is a `ValidationError`. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError('config', file, `cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ValidationError('config', file, `is not JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ValidationError('config', file, 'must hold a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Merges `file` under `flags` and validates the result. Pure. */
export function resolveConfig(
  file: Record<string, unknown>,
  flags: Record<string, unknown>,
): VirtualHostConfig {
  for (const k of Object.keys(file)) {
    if (!KEYS.has(k))
      throw new ValidationError(k, file[k], `is not a configuration key (known: ${[...KEYS].join(', ')})`);
  }
  const raw: Record<string, unknown> = { ...file };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) raw[k] = v;

  const str = (key: string, def?: string): string => {
    const v = raw[key] ?? def;
    if (typeof v !== 'string' || v.trim() === '')
      throw new ValidationError(key, v, 'is required: a non-empty string');
    return v;
  };
  const int = (key: string, def: number, min: number, max: number): number => {
    const v0 = raw[key] ?? def;
    const v = typeof v0 === 'string' && /^-?\d+$/.test(v0) ? Number(v0) : v0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ValidationError(key, v0, `must be a whole number from ${min} to ${max}`);
    }
    return v;
  };
  const list = (key: string, def: readonly string[]): string[] => {
    const v0 = raw[key] ?? def;
    const v =
      typeof v0 === 'string'
        ? v0
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v0;
    if (!Array.isArray(v) || v.some((t) => typeof t !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(t))) {
      throw new ValidationError(key, v0, 'must be a list of names (letters, digits, _ . -)');
    }
    return v as string[];
  };
  const name = (key: string, def: string): string => {
    const v = str(key, def);
    if (!/^[A-Za-z0-9_.-]+$/.test(v))
      throw new ValidationError(key, v, 'must be letters, digits, _ . - only');
    return v;
  };

  const cuebot = str('cuebot');
  parseHostPort('cuebot', cuebot);
  const service = str('service');
  parseHostPort('service', service);
  const hostName = name('hostName', '');
  const tags = list('tags', CONFIG_DEFAULTS.tags);
  if (tags.length === 0) throw new ValidationError('tags', raw.tags, 'must hold at least one tag');
  const logLevel = str('logLevel', CONFIG_DEFAULTS.logLevel);
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ValidationError('logLevel', logLevel, 'must be debug, info, warn or error');
  }
  const pathMapRaw = raw.pathMap ?? [];
  const pathMap = validatePathRules(
    'pathMap',
    Array.isArray(pathMapRaw)
      ? pathMapRaw.map((r: unknown) => {
          if (typeof r !== 'string') return r;
          return parsePathRule(r);
        })
      : pathMapRaw,
  );
  const optional = (key: string): string | undefined => (raw[key] === undefined ? undefined : str(key));
  return {
    cuebot,
    service,
    hostName,
    rqdPort: int('rqdPort', CONFIG_DEFAULTS.rqdPort, 1, 65535),
    rqdListenHost: str('rqdListenHost', CONFIG_DEFAULTS.rqdListenHost),
    facility: name('facility', CONFIG_DEFAULTS.facility),
    tags,
    allocation: name('allocation', CONFIG_DEFAULTS.allocation),
    cores: int('cores', CONFIG_DEFAULTS.cores, 1, 100_000),
    memoryGb: int('memoryGb', CONFIG_DEFAULTS.memoryGb, 1, 1_000_000),
    reportIntervalMs: int('reportIntervalMs', CONFIG_DEFAULTS.reportIntervalMs, 100, 600_000),
    turnaroundSeconds: int('turnaroundSeconds', CONFIG_DEFAULTS.turnaroundSeconds, 1, 365 * 86_400),
    stateDir: path.resolve(raw.stateDir === undefined ? defaultStateDir('opencue') : str('stateDir')),
    capacityGroup: optional('capacityGroup'),
    tokenFile: optional('tokenFile'),
    subscribeShows: list('subscribeShows', CONFIG_DEFAULTS.subscribeShows),
    pathMap,
    workerGroups: list('workerGroups', CONFIG_DEFAULTS.workerGroups),
    logLevel: logLevel as VirtualHostConfig['logLevel'],
  };
}
