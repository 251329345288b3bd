/**
 * The bridge's configuration: command-line flags over a JSON config file over defaults,
 * validated before anything starts (errors name the key and quote the value).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStateDir, validatePathRules, type PathRule } from '@spillway/bridge-kit';
import { ValidationError } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';
import type { Executables } from '../commands';
import { DEADLINE_EXTRA_INFO_KEY } from './report';

/** The bridge's configuration. */
export interface BridgeConfig {
  /** The Deadline Web Service URL, e.g. `http://deadline:8081`. */
  readonly webservice: string;
  /** Basic auth user. @default none */
  readonly user?: string;
  /** File holding the Web Service password. @default none */
  readonly passwordFile?: string;
  /** PEM file of a CA to trust for an `https:` Web Service. @default the system's */
  readonly caFile?: string;
  /** The Spillway service, `host:port`. */
  readonly service: string;
  /** File holding the service's bearer token. @default none */
  readonly tokenFile?: string;
  /** The bridge's name; frames are submitted with source `deadline:<name>`. @default 'default' */
  readonly name: string;
  /** Deadline of jobs carrying none: submission time + this. @default 7200 (2 hours) */
  readonly turnaroundSeconds: number;
  /** The ExtraInfo key a job's deadline is read from. @default 'SpillwayDeadline' */
  readonly deadlineKey: string;
  /** How often the farm is read and reported. @default 5000 */
  readonly pollIntervalMs: number;
  /** Directory of the bridge's state file `deadline-<name>.json`. @default `$SPILLWAY_DATA_DIR/bridges/deadline`, else `~/.spillway/bridges/deadline` */
  readonly stateDir: string;
  /** Spillway capacity group for every job. @default the service's default */
  readonly capacityGroup?: string;
  /**
   * Spillway capacity group (with GPUs) of jobs whose ExtraInfo `SpillwayGpus` asks for GPUs.
   * @default none: such jobs stay on the local farm
   */
  readonly gpuCapacityGroup?: string;
  /**
   * Worker-burst capacity groups whose cloud workers join this farm: the bridge reports them
   * to the service and drains, re-enables, requeues and removes them as it answers.
   * @default [] (none)
   */
  readonly workerGroups: readonly string[];
  /** Cloud retries of a frame before its task goes back to the local farm. @default 1 */
  readonly cloudRetries: number;
  /** Path mapping applied to scene and output paths of cloud frames (and to shared output folders as this host sees them). @default [] */
  readonly pathRules: readonly PathRule[];
  /**
   * The studio's storage profile for Deadline: its file-system locations as jobs name them
   * (`P:\`, `/mnt/projects`), each SHARED (reached through a mount of the capacity group:
   * never uploaded, paths rewritten to `$SPILLWAY_MOUNT_<NAME>`, outputs written there and
   * verified in place) or LOCAL (synced to Blob Storage). @default [] (everything is synced)
   */
  readonly storageLocations: readonly storage.StorageLocation[];
  /** Executables of cloud frames by plugin. @default blender, kick, vray, Render */
  readonly executables: Executables;
  /** A command put before every cloud frame's command (a wrapper script). @default none */
  readonly commandWrapper?: string;
  /** Wall-clock limit of one cloud attempt. @default none */
  readonly frameTimeoutMs?: number;
  /** @default 'info' */
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Keys a config file or flags may set (camelCase). */
export type BridgeConfigInput = { -readonly [K in keyof BridgeConfig]?: unknown };

const KEYS: readonly (keyof BridgeConfig)[] = [
  'webservice',
  'user',
  'passwordFile',
  'caFile',
  'service',
  'tokenFile',
  'name',
  'turnaroundSeconds',
  'deadlineKey',
  'pollIntervalMs',
  'stateDir',
  'capacityGroup',
  'gpuCapacityGroup',
  'workerGroups',
  'cloudRetries',
  'pathRules',
  'storageLocations',
  'executables',
  'commandWrapper',
  'frameTimeoutMs',
  'logLevel',
];

/** Reads a JSON config file; unknown keys are refused (a typo should not be silently ignored). */
export function readConfigFile(file: string): BridgeConfigInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ValidationError('config', file, `cannot be read as JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ValidationError('config', file, 'must hold a JSON object');
  for (const k of Object.keys(parsed))
    if (!KEYS.includes(k as keyof BridgeConfig))
      throw new ValidationError(`config.${k}`, k, `is not a key; keys are ${KEYS.join(', ')}`);
  return parsed as BridgeConfigInput;
}

const str = (key: string, v: unknown): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '')
    throw new ValidationError(key, v, 'must be a non-empty string');
  return v;
};

const num = (key: string, v: unknown, min: number, dflt: number): number => {
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min)
    throw new ValidationError(key, v, `must be a number of at least ${min}`);
  return n;
};

/** Merges flags over the file over defaults and validates everything. */
export function resolveConfig(flags: BridgeConfigInput, file: BridgeConfigInput = {}): BridgeConfig {
  const v = (k: keyof BridgeConfig): unknown => (flags[k] !== undefined ? flags[k] : file[k]);
  const webservice = str('webservice', v('webservice'));
  if (!webservice)
    throw new ValidationError(
      'webservice',
      v('webservice'),
      'is required, e.g. --webservice http://deadline:8081',
    );
  try {
    const u = new URL(webservice);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    if (u.username || u.password)
      throw new ValidationError(
        'webservice',
        `${u.protocol}//${u.host}`,
        'must not carry credentials; use --user and --password-file',
      );
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError('webservice', webservice, 'is not an http(s) URL');
  }
  const service = str('service', v('service'));
  if (!service || !/^[^\s:]+:\d{1,5}$/.test(service))
    throw new ValidationError('service', v('service'), 'is required as host:port');
  const name = str('name', v('name')) ?? 'default';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw new ValidationError('name', name, 'must be 1-64 characters of A-Z a-z 0-9 . _ -');
  const logLevel = (v('logLevel') ?? 'info') as BridgeConfig['logLevel'];
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    throw new ValidationError('logLevel', logLevel, 'must be debug, info, warn or error');
  const rules = validatePathRules('pathRules', v('pathRules') ?? []);
  const exes = v('executables') ?? {};
  if (typeof exes !== 'object' || Array.isArray(exes))
    throw new ValidationError(
      'executables',
      exes,
      'must be an object like {"blender": "/opt/blender/blender"}',
    );
  const cloudRetries = num('cloudRetries', v('cloudRetries'), 0, 1);
  if (!Number.isInteger(cloudRetries) || cloudRetries > 100)
    throw new ValidationError('cloudRetries', v('cloudRetries'), 'must be a whole number from 0 to 100');
  const user = str('user', v('user'));
  const passwordFile = str('passwordFile', v('passwordFile'));
  const caFile = str('caFile', v('caFile'));
  const tokenFile = str('tokenFile', v('tokenFile'));
  const capacityGroup = str('capacityGroup', v('capacityGroup'));
  const gpuCapacityGroup = str('gpuCapacityGroup', v('gpuCapacityGroup'));
  const commandWrapper = str('commandWrapper', v('commandWrapper'));
  const frameTimeout = v('frameTimeoutMs');
  const workerGroups = v('workerGroups') ?? [];
  if (!Array.isArray(workerGroups))
    throw new ValidationError('workerGroups', workerGroups, 'must be a list of capacity group names');
  for (const [i, g] of workerGroups.entries())
    if (typeof g !== 'string' || !/^[a-z][a-z0-9-]{0,63}$/.test(g))
      throw new ValidationError(
        `workerGroups[${i}]`,
        g,
        'must be a capacity group name (a-z 0-9 -, starting with a letter)',
      );
  return {
    workerGroups: workerGroups as string[],
    webservice,
    service,
    name,
    turnaroundSeconds: num('turnaroundSeconds', v('turnaroundSeconds'), 1, 7200),
    deadlineKey: str('deadlineKey', v('deadlineKey')) ?? DEADLINE_EXTRA_INFO_KEY,
    pollIntervalMs: num('pollIntervalMs', v('pollIntervalMs'), 100, 5000),
    stateDir: path.resolve(str('stateDir', v('stateDir')) ?? defaultStateDir('deadline')),
    cloudRetries,
    pathRules: rules,
    storageLocations: storage.validateStorageLocations('storageLocations', v('storageLocations') ?? []),
    executables: exes as BridgeConfig['executables'],
    logLevel,
    ...(user ? { user } : {}),
    ...(passwordFile ? { passwordFile } : {}),
    ...(caFile ? { caFile } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    ...(capacityGroup ? { capacityGroup } : {}),
    ...(gpuCapacityGroup ? { gpuCapacityGroup } : {}),
    ...(commandWrapper ? { commandWrapper } : {}),
    ...(frameTimeout !== undefined ? { frameTimeoutMs: num('frameTimeoutMs', frameTimeout, 1, 0) } : {}),
  };
}
