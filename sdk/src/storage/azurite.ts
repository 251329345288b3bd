/**
 * The embedded storage default: Azurite's blob service, started from its npm package as a
 * child process on a free loopback port, stopped with the process that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpillwayError } from '../errors';
import { AZURITE_FLUSH_HOOK, flushAzurite } from './durability';
import { sleep } from '../retry';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
/** The well-known development account key. Public, but still never printed by Spillway. */
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Options of `startAzurite`. */
export interface StartAzuriteOptions {
  /** Where Azurite keeps blobs and metadata. @default `$SPILLWAY_DATA_DIR/azurite`, else `~/.spillway/azurite` */
  readonly dataDir?: string;
  /**
   * Loopback port to listen on; 0 picks a free one. With a data directory and no port
   * given, the port of the directory's previous Azurite is taken again when it is free, so
   * SAS URLs handed out before a restart stay good. @default 0
   */
  readonly port?: number;
  /** Keep everything in memory instead of `dataDir` (tests, benchmarks). @default false */
  readonly inMemory?: boolean;
  /** How long to wait for Azurite to answer (and for a directory's previous Azurite to go). @default 30 seconds */
  readonly startTimeoutMs?: number;
  /** Aborts the start-up (the child is killed); after start, stops Azurite. */
  readonly abortSignal?: AbortSignal;
}

/** A running Azurite blob service. */
export interface Azurite {
  /** e.g. `http://127.0.0.1:41234/devstoreaccount1` */
  readonly blobEndpoint: string;
  readonly accountName: string;
  /** The account key. Do not print it. */
  readonly accountKey: string;
  /** A connection string for `BlobServiceClient.fromConnectionString`. Do not print it. */
  readonly connectionString: string;
  /** The directory holding its data, or undefined in memory. */
  readonly dataDir: string | undefined;
  /** Process id of the Azurite process. */
  readonly pid: number;
  /**
   * Makes every blob Azurite has acknowledged so far survive a SIGKILL of Azurite (its
   * metadata saved to disk; see `storage/durability`). Nothing to do in memory.
   */
  flush(): Promise<void>;
  /**
   * True when this process started it; false when it joined the Azurite another process
   * runs on the same data directory.
   */
  readonly owned: boolean;
  /**
   * Lets go of it. Azurite stops (SIGTERM, then SIGKILL after 5 s) once no process uses it
   * any more: an Azurite that another process joined keeps running for that process.
   * Idempotent.
   */
  stop(): Promise<void>;
}

/** Azurite could not be started. */
export class AzuriteStartError extends SpillwayError {
  constructor(message: string) {
    super(message, 'UNAVAILABLE');
  }
}

/**
 * The data directory belongs to an Azurite that cannot be joined (its process lives but
 * does not answer). Two Azurites on one directory overwrite each other's metadata, so
 * Spillway never starts a second one.
 */
export class AzuriteLockedError extends SpillwayError {
  constructor(
    message: string,
    /** The directory. */
    readonly dataDir: string,
    /** The process holding it. */
    readonly pid: number,
  ) {
    super(message, 'FAILED_PRECONDITION');
  }
}

/** The default Spillway data directory: `$SPILLWAY_DATA_DIR`, else `~/.spillway`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const d = env.SPILLWAY_DATA_DIR;
  if (d) return d.startsWith('~/') ? path.join(os.homedir(), d.slice(2)) : d;
  return path.join(os.homedir(), '.spillway');
}

/** The blob service entry point inside the azurite package. */
function azuriteBlobMain(): string {
  const pkg = require.resolve('azurite/package.json');
  return path.join(path.dirname(pkg), 'dist', 'src', 'blob', 'main.js');
}

/** Files of a data directory's owner lock (inside the directory). */
const LOCK_FILE = 'spillway-owner.json';
const PID_FILE = 'spillway-azurite.pid';
const CLIENTS_DIR = 'spillway-clients';
const PORT_FILE = 'port';

/** What the lock file holds. */
interface OwnerLock {
  /** Unique per start. */
  readonly token: string;
  /** The process that started it (it may be gone while others still use it). */
  readonly ownerPid: number;
  /** The Azurite process; 0 while starting. */
  readonly pid: number;
  /** Empty while starting. */
  readonly blobEndpoint: string;
  readonly startedAt: string;
}

// The child runs Azurite in a small wrapper. It serves while a process uses it: the one that
// started it (its stdin pipe: closed when that process ends or lets go, even by SIGKILL) or
// any process that joined it (a file per process in the clients directory, named by pid).
// When none is left it removes the lock and stops (SIGTERM: Azurite saves its metadata).
// It runs in its own process group, so a Ctrl-C meant for the CLI that started it does not
// stop it under a service that joined it.
const wrapper = `${AZURITE_FLUSH_HOOK}
const fs = require('fs');
const path = require('path');
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
const lockFile = process.env.SPILLWAY_AZURITE_LOCK;
const clientsDir = process.env.SPILLWAY_AZURITE_CLIENTS;
const token = process.env.SPILLWAY_AZURITE_TOKEN;
const pidFile = process.env.SPILLWAY_AZURITE_PID_FILE;
delete process.env.SPILLWAY_AZURITE_LOCK;
delete process.env.SPILLWAY_AZURITE_CLIENTS;
delete process.env.SPILLWAY_AZURITE_TOKEN;
delete process.env.SPILLWAY_AZURITE_PID_FILE;
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const mine = () => { try { return JSON.parse(fs.readFileSync(lockFile, 'utf8')).token === token; } catch { return false; } };
const liveClients = () => {
  if (!clientsDir) return 0;
  let n = 0;
  let names = [];
  try { names = fs.readdirSync(clientsDir); } catch { return 0; }
  for (const f of names) {
    if (alive(Number(f.split('-')[0]))) n++;
    else { try { fs.unlinkSync(path.join(clientsDir, f)); } catch {} }
  }
  return n;
};
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  process.kill(process.pid, 'SIGTERM');
};
let idleChecks = 0;
const check = () => {
  if (stopping) return;
  if (liveClients() > 0) { idleChecks = 0; return; }
  if (++idleChecks < 2) return;
  if (!lockFile) return stop();
  // Let go of the lock first, then look once more: a process that joined meanwhile keeps it.
  let saved;
  try { saved = fs.readFileSync(lockFile, 'utf8'); } catch {}
  if (saved && mine()) { try { fs.unlinkSync(lockFile); } catch {} }
  if (liveClients() > 0 && saved) {
    try { fs.writeFileSync(lockFile + '.' + process.pid, saved); fs.linkSync(lockFile + '.' + process.pid, lockFile); idleChecks = 0; return; }
    catch {} finally { try { fs.unlinkSync(lockFile + '.' + process.pid); } catch {} }
  }
  stop();
};
const orphaned = () => { if (!stopping) { check(); setInterval(check, 250); } };
process.stdin.on('end', orphaned);
process.stdin.on('error', orphaned);
process.stdin.resume();
// On SIGTERM Azurite closes its server (and saves its metadata); let the loop end then.
process.on('SIGTERM', () => {
  stopping = true;
  if (lockFile && mine()) { try { fs.unlinkSync(lockFile); } catch {} }
  process.stdin.removeAllListeners();
  process.stdin.destroy();
  setTimeout(() => process.exit(0), 4000).unref();
});
process.on('exit', () => {
  if (lockFile && mine()) { try { fs.unlinkSync(lockFile); } catch {} }
  try { if (pidFile && fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(pidFile); } catch {}
});
if (pidFile) fs.writeFileSync(pidFile, String(process.pid));
require(main);
`;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // An in-memory Azurite has no one else to serve: it goes with this process at once.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): OwnerLock | undefined | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'unreadable';
  }
  try {
    const v = JSON.parse(text) as OwnerLock;
    return typeof v.token === 'string' && typeof v.ownerPid === 'number' ? v : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Creates `file` holding `lock` only if no such file exists (link: atomic, never partly written). */
function createLock(file: string, lock: OwnerLock): boolean {
  const tmp = `${file}.${process.pid}.${lock.token}`;
  fs.writeFileSync(tmp, JSON.stringify(lock));
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Replaces the lock we hold (rename: atomic). */
function rewriteLock(file: string, lock: OwnerLock): void {
  const tmp = `${file}.${process.pid}.${lock.token}`;
  fs.writeFileSync(tmp, JSON.stringify(lock));
  fs.renameSync(tmp, file);
}

function connectionString(blobEndpoint: string): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
    `AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`
  );
}

/**
 * Starts Azurite's blob service on `127.0.0.1` with a port the OS picks, waits until it
 * answers HTTP, and returns how to reach it.
 *
 * One Azurite per data directory: the first process takes the directory's owner lock
 * (`spillway-owner.json`) and starts it; any other process (the CLI beside a running
 * service, a second service) joins that one instead of starting a second Azurite on the
 * same files, whose metadata saves would overwrite each other. A lock whose processes are
 * gone is taken over (after its Azurite has exited); a live holder that does not answer is
 * refused with `AzuriteLockedError`, naming the process.
 *
 * Azurite stops when no process uses it any more: when `stop()` is called by every user,
 * when `abortSignal` aborts, or when its users exit or die (the starter's stdin pipe closes;
 * joined users are checked by pid). An in-memory Azurite is private to this process.
 *
 * Flags: `--loose` and `--skipApiVersionCheck` let the current `@azure/storage-blob` talk to
 * it; `--disableTelemetry` keeps it off the network.
 */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<Azurite> {
  const signal = options.abortSignal;
  signal?.throwIfAborted();
  if (options.inMemory) return spawnAzurite(options, undefined);
  const dataDir = path.resolve(options.dataDir ?? path.join(defaultDataDir(), 'azurite'));
  fs.mkdirSync(path.join(dataDir, CLIENTS_DIR), { recursive: true });
  const lockFile = path.join(dataDir, LOCK_FILE);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    const token = randomBytes(8).toString('hex');
    const starting: OwnerLock = {
      token,
      ownerPid: process.pid,
      pid: 0,
      blobEndpoint: '',
      startedAt: new Date().toISOString(),
    };
    if (createLock(lockFile, starting)) {
      return startOwned(options, dataDir, lockFile, starting, deadline);
    }
    const held = readLock(lockFile);
    if (held === undefined) continue; // let go of meanwhile: try again at once
    if (held !== 'unreadable') {
      if (held.pid > 0 && held.blobEndpoint && alive(held.pid)) {
        const joined = await join(dataDir, lockFile, held, signal);
        if (joined) return joined;
      } else if (held.pid === 0 && alive(held.ownerPid)) {
        // Being started by another process: wait for it.
      } else if (held.pid > 0 ? !alive(held.pid) : !alive(held.ownerPid)) {
        // Its Azurite is gone (crashed, or its users were killed): take the lock over, unless
        // it changed meanwhile. The new owner still waits for the old process to exit.
        const again = readLock(lockFile);
        if (again !== undefined && again !== 'unreadable' && again.token === held.token) {
          fs.rmSync(lockFile, { force: true });
        }
        continue;
      }
    }
    if (Date.now() > deadline) {
      const pid = held === 'unreadable' || held === undefined ? 0 : held.pid || held.ownerPid;
      throw new AzuriteLockedError(
        `the Azurite data directory ${dataDir} is in use by process ${pid || 'unknown'}, whose Azurite ` +
          `does not answer${held !== 'unreadable' && held?.blobEndpoint ? ` at ${held.blobEndpoint}` : ''}; ` +
          `stop that process, or use another data directory (--data-dir / SPILLWAY_DATA_DIR)`,
        dataDir,
        pid,
      );
    }
    await sleep(Math.min(500, 50 * (attempt + 1)), signal);
  }
}

/** Joins the Azurite a lock names: registers this process, checks it answers and still holds the lock. */
async function join(
  dataDir: string,
  lockFile: string,
  held: OwnerLock,
  signal: AbortSignal | undefined,
): Promise<Azurite | undefined> {
  const client = path.join(dataDir, CLIENTS_DIR, `${process.pid}-${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(client, held.token);
  const leave = (): void => fs.rmSync(client, { force: true });
  try {
    await waitUntilAnswering(held.blobEndpoint, signal, 20);
  } catch (e) {
    leave();
    if (signal?.aborted) throw e;
    return undefined;
  }
  const still = readLock(lockFile);
  if (still === undefined || still === 'unreadable' || still.token !== held.token) {
    leave();
    return undefined;
  }
  let left = false;
  const onAbort = (): void => leave();
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    blobEndpoint: held.blobEndpoint,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    connectionString: connectionString(held.blobEndpoint),
    dataDir,
    pid: held.pid,
    owned: false,
    // The process it joined saves on the same signal as for its starter.
    flush: () => flushAzurite(held.pid, dataDir),
    stop: async () => {
      if (left) return;
      left = true;
      signal?.removeEventListener('abort', onAbort);
      leave();
    },
  };
}

/** Starts the directory's Azurite, holding its lock. */
async function startOwned(
  options: StartAzuriteOptions,
  dataDir: string,
  lockFile: string,
  lock: OwnerLock,
  deadline: number,
): Promise<Azurite> {
  const release = (): void => {
    const held = readLock(lockFile);
    if (held !== undefined && held !== 'unreadable' && held.token === lock.token)
      fs.rmSync(lockFile, { force: true });
  };
  try {
    // The directory's previous Azurite (its users killed) may still be saving: let it go first.
    const pidFile = path.join(dataDir, PID_FILE);
    for (;;) {
      let previous = 0;
      try {
        previous = Number(fs.readFileSync(pidFile, 'utf8').trim());
      } catch {
        break;
      }
      if (!alive(previous)) break;
      if (Date.now() > deadline) {
        throw new AzuriteLockedError(
          `the previous Azurite of ${dataDir} (process ${previous}) has not exited; stop it, or use another data directory`,
          dataDir,
          previous,
        );
      }
      await sleep(100, options.abortSignal);
      options.abortSignal?.throwIfAborted();
    }
    const port =
      options.port ?? (await previousPort(path.join(dataDir, PORT_FILE), deadline, options.abortSignal));
    const az = await spawnAzurite({ ...options, port }, { dataDir, lockFile, token: lock.token, pidFile });
    rewriteLock(lockFile, { ...lock, pid: az.pid, blobEndpoint: az.blobEndpoint });
    fs.writeFileSync(path.join(dataDir, PORT_FILE), new URL(az.blobEndpoint).port);
    return az;
  } catch (e) {
    release();
    throw e;
  }
}

/** The port the directory's Azurite had last time, once it is free (0 if none, or still taken at the deadline). */
async function previousPort(file: string, deadline: number, signal?: AbortSignal): Promise<number> {
  let port: number;
  try {
    port = Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return 0;
  const until = Math.min(deadline, Date.now() + 10_000);
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
    if (Date.now() > until) return 0;
    await sleep(200, signal);
    signal?.throwIfAborted();
  }
}

async function spawnAzurite(
  options: StartAzuriteOptions,
  shared: { dataDir: string; lockFile: string; token: string; pidFile: string } | undefined,
): Promise<Azurite> {
  const signal = options.abortSignal;
  const dataDir = shared?.dataDir;
  const args = [
    '-e',
    wrapper,
    azuriteBlobMain(),
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(options.port ?? 0),
    '--loose',
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--silent',
    ...(dataDir ? ['--location', dataDir] : ['--inMemoryPersistence']),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
    detached: shared !== undefined,
    env: {
      ...process.env,
      ...(shared
        ? {
            SPILLWAY_AZURITE_LOCK: shared.lockFile,
            SPILLWAY_AZURITE_CLIENTS: path.join(shared.dataDir, CLIENTS_DIR),
            SPILLWAY_AZURITE_TOKEN: shared.token,
            SPILLWAY_AZURITE_PID_FILE: shared.pidFile,
          }
        : {}),
    },
  });
  if (!shared) {
    live.add(child);
    installExitHook();
  }
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));

  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const clientsDir = shared ? path.join(shared.dataDir, CLIENTS_DIR) : undefined;
  const othersUsingIt = (): boolean => {
    if (!clientsDir) return false;
    let names: string[] = [];
    try {
      names = fs.readdirSync(clientsDir);
    } catch {
      return false;
    }
    return names.some((f) => alive(Number(f.split('-')[0])));
  };
  let stopped = false;
  /** Lets go: stops Azurite when no one else uses it, else leaves it to them. */
  const letGo = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (othersUsingIt()) {
      // It serves the processes that joined it and stops after the last one; this process
      // must not wait for it (or be kept alive by its pipes).
      child.stdin!.end();
      child.stdout!.destroy();
      child.stderr!.destroy();
      child.unref();
      return;
    }
    await kill();
  };

  try {
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new AzuriteStartError(`Azurite did not start within ${timeoutMs} ms: ${stderr.trim()}`)),
        timeoutMs,
      );
      const onAbort = (): void => reject(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listens on (http:\/\/[0-9.]+:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new AzuriteStartError(`Azurite exited with code ${code} before listening: ${stderr.trim()}`));
      });
    });
    child.stdout!.resume();
    const blobEndpoint = `${url}/${AZURITE_ACCOUNT_NAME}`;
    await waitUntilAnswering(blobEndpoint, signal);
    const onAbortAfter = (): void => void letGo();
    signal?.addEventListener('abort', onAbortAfter, { once: true });
    return {
      blobEndpoint,
      accountName: AZURITE_ACCOUNT_NAME,
      accountKey: AZURITE_ACCOUNT_KEY,
      connectionString: connectionString(blobEndpoint),
      dataDir,
      pid: child.pid!,
      flush: () => (dataDir ? flushAzurite(child.pid!, dataDir) : Promise.resolve()),
      owned: true,
      stop: async () => {
        signal?.removeEventListener('abort', onAbortAfter);
        await letGo();
      },
    };
  } catch (err) {
    stopped = true;
    await kill();
    throw err;
  }
}

async function waitUntilAnswering(endpoint: string, signal?: AbortSignal, attempts = 50): Promise<void> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    signal?.throwIfAborted();
    try {
      const signals = [AbortSignal.timeout(2000), ...(signal ? [signal] : [])];
      const res = await fetch(`${endpoint}?comp=list`, { signal: AbortSignal.any(signals) });
      await res.body?.cancel();
      return; // any HTTP answer (even 403 without credentials) means it is serving
    } catch {
      signal?.throwIfAborted();
      await sleep(100);
    }
  }
  throw new AzuriteStartError(`Azurite at ${endpoint} did not answer`);
}
