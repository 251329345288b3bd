import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../errors';
import { parseBurstConfig, type BurstConfig } from '../policy/config';

/**
 * The service's configuration: a JSON file (`--config FILE` or `SPILLWAY_CONFIG`) plus
 * environment variables, which win. Validated at start; an error names the key
 * (`compute.local.nodes`) and quotes the value. Secrets are read from files named here,
 * never written in the file itself.
 */
export interface ServiceConfig {
  /** `host:port` to listen on. Env `SPILLWAY_LISTEN`. @default '127.0.0.1:7443' */
  readonly listen: string;
  /** Where state (journal, embedded Azurite, engine directories) lives. Env `SPILLWAY_DATA_DIR`. @default '~/.spillway' */
  readonly dataDir: string;
  /** TLS files; required off loopback. Env `SPILLWAY_TLS_CERT_FILE`, `SPILLWAY_TLS_KEY_FILE`, `SPILLWAY_TLS_CLIENT_CA_FILE`. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string };
  /** File holding the bearer token clients must send. Env `SPILLWAY_TOKEN_FILE`. @default none */
  readonly tokenFile?: string;
  readonly compute: ComputeConfig;
  /** Worker burst over VM Scale Sets. @default none (worker-burst groups are refused) */
  readonly workerBurst?: WorkerBurstConfig;
  readonly storage: StorageConfig;
  /** The studio's spend cap, for every bridge together. */
  readonly budget: BudgetConfig;
  /** The burst planner and each group's planning figures (`burst.*`, see docs/policy.md). */
  readonly burst: BurstConfig;
  /** The HTTP server: status page, its JSON and event feeds, `/metrics`. */
  readonly http: HttpConfig;
  /** Logging. Env `SPILLWAY_LOG_LEVEL`, `SPILLWAY_LOG_FORMAT`. */
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly format: 'text' | 'json' };
}

/** The service's HTTP server. */
export interface HttpConfig {
  /**
   * `host:port` of the status page and `/metrics`, or undefined when turned off
   * (`http.listen: "off"`). Off loopback it needs TLS and a token, as `listen` does; with
   * TLS configured it serves HTTPS. Env `SPILLWAY_HTTP_LISTEN`.
   * @default '127.0.0.1:7480' ('127.0.0.1:0' when `listen` asks for port 0)
   */
  readonly listen: string | undefined;
}

/** The studio's spend cap. */
export interface BudgetConfig {
  /**
   * Most the capacity groups together may cost per hour (nodes allocated × the groups'
   * prices). Every path that adds cost (a plan, a manual resize, a group create) is checked
   * against it; 0 means uncapped. @default 0
   */
  readonly maxSpendPerHour: number;
  /** ISO 4217 currency of the cap and of every group's prices. @default 'USD' */
  readonly currency: string;
}

/** Which compute backend runs offloaded frames. */
export interface ComputeConfig {
  /** Env `SPILLWAY_COMPUTE_BACKEND`. @default 'local' */
  readonly backend: 'local' | 'batch';
  /** The capacity group frames go to when a job names none. @default 'default' */
  readonly defaultGroup: string;
  /** The embedded local engine. */
  readonly local: {
    /** Simulated nodes. Env `SPILLWAY_LOCAL_NODES`. @default 4 */
    readonly nodes: number;
    /** Task slots per node. Env `SPILLWAY_LOCAL_SLOTS`. @default 1 */
    readonly slotsPerNode: number;
    /** Simulated boot time of a node. @default 0 */
    readonly bootDelayMs: number;
  };
  /** Azure Batch (when `backend` is `batch`). */
  readonly batch?: {
    /** Account URL, e.g. `https://acct.westeurope.batch.azure.com`. Env `SPILLWAY_BATCH_URL`. */
    readonly accountUrl: string;
    /** Account name, for shared-key auth. Env `SPILLWAY_BATCH_ACCOUNT`. */
    readonly accountName?: string;
    /** File holding the account key (shared-key auth); without it, Azure AD (DefaultAzureCredential). Env `SPILLWAY_BATCH_KEY_FILE`. */
    readonly accountKeyFile?: string;
    /**
     * The account's quotas, as the Azure portal shows them (`compute.batch.quota.dedicatedCores`,
     * `.lowPriorityCores`, `.pools`): a resize or a group beyond one is refused at once with
     * RESOURCE_EXHAUSTED naming it, instead of showing `AccountCoreQuotaReached` on the pool
     * later. @default none (not checked)
     */
    readonly quota?: {
      readonly dedicatedCores?: number;
      readonly lowPriorityCores?: number;
      readonly pools?: number;
    };
  };
}

/** VM Scale Sets for worker burst. */
export interface WorkerBurstConfig {
  /** Subscription of the scale sets. Env `SPILLWAY_SCALESET_SUBSCRIPTION`. */
  readonly subscriptionId: string;
  /** Resource group of the scale sets. Env `SPILLWAY_SCALESET_RESOURCE_GROUP`. */
  readonly resourceGroup: string;
  /**
   * Azure region of scale sets whose spec names none, e.g. `westeurope`. Env
   * `SPILLWAY_SCALESET_LOCATION`. @default none (a worker-burst group must name its location)
   */
  readonly location?: string;
  /** ARM endpoint. Env `SPILLWAY_ARM_ENDPOINT`. @default 'https://management.azure.com' */
  readonly endpoint?: string;
  /** Extra CA (PEM) to trust for the endpoint, e.g. `spillway emulate arm`'s. Env `SPILLWAY_ARM_CA_FILE`. */
  readonly caFile?: string;
  /** File with a fixed bearer token (the emulator); without it, DefaultAzureCredential. Env `SPILLWAY_ARM_TOKEN_FILE`. */
  readonly tokenFile?: string;
}

/** Where assets and outputs live. */
export interface StorageConfig {
  /** File holding a storage connection string; without it, Azurite is started embedded. Env `SPILLWAY_STORAGE_CONNECTION_STRING_FILE`. */
  readonly connectionStringFile?: string;
  /** Container for assets and outputs. @default 'spillway' */
  readonly container: string;
  /** Content garbage collection (`spillway assets gc` runs it on demand). */
  readonly gc: {
    /** How often the service collects on its own; 0 is never. @default 0 */
    readonly intervalMs: number;
    /** What a scheduled collection deletes: unused manifests (then unlisted content) older than this. @default 30 days */
    readonly olderThanMs: number;
  };
  /** Outputs of frames whose every output was fetched (FetchOutput) are deleted this long after; 0 keeps them. @default 0 */
  readonly outputsExpireAfterMs: number;
  /** The node cache of asset content, per node. */
  readonly nodeCache: {
    /** Limit in bytes for every group; 0 uses `fraction` of the node's temporary disk. @default 0 */
    readonly maxBytes: number;
    /** Share of the node's temporary disk the cache may use when no byte limit is set. @default 0.5 */
    readonly fraction: number;
    /** Limits in bytes per capacity group, over `maxBytes`. @default none */
    readonly groups: Readonly<Record<string, number>>;
  };
}

type Json = Record<string, unknown>;

/** Where the configuration comes from. */
interface ConfigSources {
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly overrides?: Json;
}

/** Loads and validates the configuration from an optional file and the environment. */
export function loadConfig(options: ConfigSources = {}): ServiceConfig {
  return readConfig(options).config;
}

/**
 * Every configuration key the service reads, dotted (`storage.gc.intervalMs`): what the
 * README's configuration reference must list (a test checks it).
 */
export function configurationKeys(): string[] {
  return [...readConfig({ env: {} }).known].sort();
}

function readConfig(options: ConfigSources): { config: ServiceConfig; known: ReadonlySet<string> } {
  const env = options.env ?? process.env;
  const file = options.file ?? env.SPILLWAY_CONFIG;
  let raw: Json = {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ValidationError('config', file, `cannot be read: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Json;
    } catch (err) {
      throw new ValidationError('config', file, `is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ValidationError('config', file, 'must hold a JSON object');
    }
  }

  // An override (the CLI's flags, tests) wins over the environment, which wins over the file.
  // Every key read is remembered: whatever else the file or the overrides hold is refused.
  const known = new Set<string>();
  const override = (key: string): unknown =>
    options.overrides && key in options.overrides ? options.overrides[key] : undefined;
  const pick = (key: string): unknown => {
    known.add(key);
    return override(key) ?? get(raw, key);
  };
  const layer = (key: string, envName: string): unknown => {
    known.add(key);
    return override(key) ?? env[envName] ?? get(raw, key);
  };

  const listen = str(layer('listen', 'SPILLWAY_LISTEN'), 'listen', '127.0.0.1:7443');
  const dataDir = expandHome(str(layer('dataDir', 'SPILLWAY_DATA_DIR'), 'dataDir', '~/.spillway'));
  const certFile = optStr(layer('tls.certFile', 'SPILLWAY_TLS_CERT_FILE'), 'tls.certFile');
  const keyFile = optStr(layer('tls.keyFile', 'SPILLWAY_TLS_KEY_FILE'), 'tls.keyFile');
  const clientCaFile = optStr(layer('tls.clientCaFile', 'SPILLWAY_TLS_CLIENT_CA_FILE'), 'tls.clientCaFile');
  const tokenFile = optStr(layer('tokenFile', 'SPILLWAY_TOKEN_FILE'), 'tokenFile');
  const backend = oneOf(
    layer('compute.backend', 'SPILLWAY_COMPUTE_BACKEND'),
    'compute.backend',
    ['local', 'batch'],
    'local',
  );
  const defaultGroup = str(pick('compute.defaultGroup'), 'compute.defaultGroup', 'default');
  const local = {
    nodes: num(layer('compute.local.nodes', 'SPILLWAY_LOCAL_NODES'), 'compute.local.nodes', 4, 0, 1000, true),
    slotsPerNode: num(
      layer('compute.local.slotsPerNode', 'SPILLWAY_LOCAL_SLOTS'),
      'compute.local.slotsPerNode',
      1,
      1,
      256,
      true,
    ),
    bootDelayMs: num(pick('compute.local.bootDelayMs'), 'compute.local.bootDelayMs', 0, 0, 3_600_000, true),
  };
  const batchUrl = optStr(
    layer('compute.batch.accountUrl', 'SPILLWAY_BATCH_URL'),
    'compute.batch.accountUrl',
  );
  const batchAccount = optStr(
    layer('compute.batch.accountName', 'SPILLWAY_BATCH_ACCOUNT'),
    'compute.batch.accountName',
  );
  const batchKeyFile = optStr(
    layer('compute.batch.accountKeyFile', 'SPILLWAY_BATCH_KEY_FILE'),
    'compute.batch.accountKeyFile',
  );
  const batchQuota: { dedicatedCores?: number; lowPriorityCores?: number; pools?: number } = {};
  for (const k of ['dedicatedCores', 'lowPriorityCores', 'pools'] as const) {
    const key = `compute.batch.quota.${k}`;
    const v = pick(key);
    if (v !== undefined) batchQuota[k] = num(v, key, 0, 0, 1_000_000, true);
  }
  const subscriptionId = optStr(
    layer('workerBurst.subscriptionId', 'SPILLWAY_SCALESET_SUBSCRIPTION'),
    'workerBurst.subscriptionId',
  );
  const resourceGroup = optStr(
    layer('workerBurst.resourceGroup', 'SPILLWAY_SCALESET_RESOURCE_GROUP'),
    'workerBurst.resourceGroup',
  );
  const location = optStr(
    layer('workerBurst.location', 'SPILLWAY_SCALESET_LOCATION'),
    'workerBurst.location',
  );
  const endpoint = optStr(layer('workerBurst.endpoint', 'SPILLWAY_ARM_ENDPOINT'), 'workerBurst.endpoint');
  const armCa = optStr(layer('workerBurst.caFile', 'SPILLWAY_ARM_CA_FILE'), 'workerBurst.caFile');
  const armToken = optStr(layer('workerBurst.tokenFile', 'SPILLWAY_ARM_TOKEN_FILE'), 'workerBurst.tokenFile');
  const connectionStringFile = optStr(
    layer('storage.connectionStringFile', 'SPILLWAY_STORAGE_CONNECTION_STRING_FILE'),
    'storage.connectionStringFile',
  );
  const container = str(pick('storage.container'), 'storage.container', 'spillway');
  const gc = {
    intervalMs: num(pick('storage.gc.intervalMs'), 'storage.gc.intervalMs', 0, 0, 365 * DAY_MS, true),
    olderThanMs: num(
      pick('storage.gc.olderThanMs'),
      'storage.gc.olderThanMs',
      30 * DAY_MS,
      0,
      3650 * DAY_MS,
      true,
    ),
  };
  const outputsExpireAfterMs = num(
    pick('storage.outputsExpireAfterMs'),
    'storage.outputsExpireAfterMs',
    0,
    0,
    3650 * DAY_MS,
    true,
  );
  const nodeCache = {
    maxBytes: num(
      pick('storage.nodeCache.maxBytes'),
      'storage.nodeCache.maxBytes',
      0,
      0,
      Number.MAX_SAFE_INTEGER,
      true,
    ),
    fraction: num(pick('storage.nodeCache.fraction'), 'storage.nodeCache.fraction', 0.5, 0.01, 1),
    groups: byteLimits(pick('storage.nodeCache.groups'), 'storage.nodeCache.groups'),
  };
  const maxSpendPerHour = num(pick('budget.maxSpendPerHour'), 'budget.maxSpendPerHour', 0, 0, 1e9);
  const currency = str(pick('budget.currency'), 'budget.currency', 'USD');
  const burst = parseBurstConfig((key) =>
    key === 'burst.planner' ? layer(key, 'SPILLWAY_PLANNER') : pick(key),
  );
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new ValidationError('budget.currency', currency, 'must be an ISO 4217 code such as "USD"');
  }
  const logLevel = oneOf(
    layer('log.level', 'SPILLWAY_LOG_LEVEL'),
    'log.level',
    ['debug', 'info', 'warn', 'error'],
    'info',
  );
  const logFormat = oneOf(layer('log.format', 'SPILLWAY_LOG_FORMAT'), 'log.format', ['text', 'json'], 'text');
  const httpListen = str(
    layer('http.listen', 'SPILLWAY_HTTP_LISTEN'),
    'http.listen',
    // A service on an ephemeral gRPC port (tests, side by side) gets an ephemeral HTTP port too.
    /:0$/.test(listen) ? '127.0.0.1:0' : '127.0.0.1:7480',
  );
  if (httpListen !== 'off' && !/^(?:\[[^\]]+\]|[^:[\]]+):\d{1,5}$/.test(httpListen)) {
    throw new ValidationError('http.listen', httpListen, 'must be HOST:PORT, e.g. 127.0.0.1:7480, or "off"');
  }

  // Before any cross-key rule: a misspelt key is the likelier cause of a missing one.
  refuseUnknownKeys(raw, known, file ?? 'config');
  for (const key of Object.keys(options.overrides ?? {})) {
    if (!known.has(key)) throw unknownKey(key, options.overrides![key], known, 'overrides');
  }

  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ValidationError(
      certFile ? 'tls.keyFile' : 'tls.certFile',
      '',
      'is required with the other TLS file',
    );
  }
  if (backend === 'batch' && !batchUrl) {
    throw new ValidationError('compute.batch.accountUrl', '', 'is required when compute.backend is "batch"');
  }
  if (subscriptionId && !resourceGroup) {
    throw new ValidationError('workerBurst.resourceGroup', '', 'is required with workerBurst.subscriptionId');
  }
  if (location !== undefined && !/^[a-z0-9]+$/.test(location)) {
    throw new ValidationError(
      'workerBurst.location',
      location,
      'must be an Azure region name such as "westeurope"',
    );
  }
  const config: ServiceConfig = {
    listen,
    dataDir,
    tls: certFile && keyFile ? { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) } : undefined,
    tokenFile,
    compute: {
      backend,
      defaultGroup,
      local,
      batch: batchUrl
        ? {
            accountUrl: batchUrl,
            accountName: batchAccount,
            accountKeyFile: batchKeyFile,
            ...(Object.keys(batchQuota).length ? { quota: batchQuota } : {}),
          }
        : undefined,
    },
    workerBurst:
      subscriptionId && resourceGroup
        ? {
            subscriptionId,
            resourceGroup,
            ...(location ? { location } : {}),
            ...(endpoint ? { endpoint } : {}),
            ...(armCa ? { caFile: armCa } : {}),
            ...(armToken ? { tokenFile: armToken } : {}),
          }
        : undefined,
    storage: { connectionStringFile, container, gc, outputsExpireAfterMs, nodeCache },
    budget: { maxSpendPerHour, currency },
    burst,
    http: { listen: httpListen === 'off' ? undefined : httpListen },
    log: { level: logLevel, format: logFormat },
  };
  return { config, known };
}

/**
 * Refuses every key of the file that the loader did not read: a misspelt key
 * (`budget.maxSpendPerHr`) would otherwise leave its setting at the default without a word.
 * A section given as something other than an object is refused too.
 */
function refuseUnknownKeys(raw: Json, known: ReadonlySet<string>, where: string): void {
  const sections = new Set<string>();
  for (const key of known) {
    const parts = key.split('.');
    for (let i = 1; i < parts.length; i++) sections.add(parts.slice(0, i).join('.'));
  }
  const walk = (node: Json, prefix: string): void => {
    for (const [name, value] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (known.has(key)) continue;
      if (sections.has(key)) {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          const inside = [...known]
            .filter((k) => k.startsWith(`${key}.`))
            .map((k) => k.slice(key.length + 1));
          throw new ValidationError(key, value, `must be an object with keys ${inside.join(', ')}`);
        }
        walk(value as Json, key);
        continue;
      }
      throw unknownKey(key, value, known, where);
    }
  };
  walk(raw, '');
}

function unknownKey(key: string, value: unknown, known: ReadonlySet<string>, where: string): ValidationError {
  const sections = [...known].flatMap((k) => {
    const parts = k.split('.');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
  });
  const guess = didYouMean(key, [...known, ...new Set(sections)]);
  return new ValidationError(
    key,
    value,
    `is not a configuration key (in ${where})${guess ? `; did you mean "${guess}"?` : ''}`,
  );
}

/**
 * The candidate closest to `word` by edit distance (case-insensitive), or undefined when
 * none is close enough to be a likely typo. A candidate with the same last segment under
 * another section (`storage.maxSpendPerHour`) is suggested too.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const c of candidates) {
    const distance = editDistance(lower, c.toLowerCase());
    if (!best || distance < best.distance) best = { candidate: c, distance };
  }
  if (best && best.distance <= Math.max(2, Math.floor(word.length / 4))) return best.candidate;
  const last = lower.split('.').pop()!;
  return candidates.find((c) => c.toLowerCase().split('.').pop() === last);
}

/** Levenshtein distance: insertions, deletions and substitutions each cost 1. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** Reads a secret from a file, trimmed; the error names the key, never the content. */
export function readSecretFile(file: string, key: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ValidationError(key, file, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (text.length === 0) throw new ValidationError(key, file, 'is empty');
  return text;
}

function get(obj: Json, dotted: string): unknown {
  let node: unknown = obj;
  for (const part of dotted.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Json)[part];
  }
  return node;
}

function str(v: unknown, key: string, dflt: string): string {
  if (v === undefined || v === '') return dflt;
  if (typeof v !== 'string') throw new ValidationError(key, v, 'must be a string');
  return v;
}

function optStr(v: unknown, key: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new ValidationError(key, v, 'must be a string');
  return v;
}

function num(v: unknown, key: string, dflt: number, min: number, max: number, integer = false): number {
  if (v === undefined || v === '') return dflt;
  const n = typeof v === 'string' ? Number(v) : v;
  if (
    typeof n !== 'number' ||
    !Number.isFinite(n) ||
    n < min ||
    n > max ||
    (integer && !Number.isInteger(n))
  ) {
    throw new ValidationError(
      key,
      v,
      `must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`,
    );
  }
  return n;
}

const DAY_MS = 86_400_000;

/** `{ group: bytes }`, each a whole number of bytes. */
function byteLimits(v: unknown, key: string): Record<string, number> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ValidationError(key, v, 'must be an object of group name to bytes');
  }
  return Object.fromEntries(
    Object.entries(v as Json).map(([group, bytes]) => [
      group,
      num(bytes, `${key}.${group}`, 0, 1, Number.MAX_SAFE_INTEGER, true),
    ]),
  );
}

function oneOf<T extends string>(v: unknown, key: string, allowed: readonly T[], dflt: T): T {
  if (v === undefined || v === '') return dflt;
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new ValidationError(key, v, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return v as T;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : path.resolve(p);
}
