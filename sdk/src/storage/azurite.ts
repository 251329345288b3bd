/**
 * The embedded storage default: Azurite's blob service, started from its npm package as a
 * child process on a free loopback port, stopped with the process that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SpillwayError } from '../errors';
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
  /** Loopback port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Keep everything in memory instead of `dataDir` (tests, benchmarks). @default false */
  readonly inMemory?: boolean;
  /** How long to wait for Azurite to answer. @default 30 seconds */
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
  /** Process id of the child. */
  readonly pid: number;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

/** Azurite could not be started. */
export class AzuriteStartError extends SpillwayError {
  constructor(message: string) {
    super(message, 'UNAVAILABLE');
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

// The child runs Azurite in a small wrapper that exits when its stdin closes, so that even
// a parent killed with SIGKILL leaves no orphan behind.
const wrapper = `
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
const orphaned = () => process.kill(process.pid, 'SIGTERM');
process.stdin.on('end', orphaned);
process.stdin.on('error', orphaned);
process.stdin.resume();
// On SIGTERM Azurite closes its server (and saves its metadata); let the loop end then.
process.on('SIGTERM', () => {
  process.stdin.removeAllListeners();
  process.stdin.destroy();
  setTimeout(() => process.exit(0), 4000).unref();
});
require(main);
`;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Starts Azurite's blob service on `127.0.0.1` with a port the OS picks, waits until it
 * answers HTTP, and returns how to reach it. The child is killed when `stop()` is called,
 * when `abortSignal` aborts, when this process exits, or when this process dies (its stdin
 * pipe closes).
 *
 * Flags: `--loose` and `--skipApiVersionCheck` let the current `@azure/storage-blob` talk to
 * it; `--disableTelemetry` keeps it off the network.
 */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<Azurite> {
  const signal = options.abortSignal;
  signal?.throwIfAborted();
  const dataDir = options.inMemory ? undefined : (options.dataDir ?? path.join(defaultDataDir(), 'azurite'));
  if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
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
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  live.add(child);
  installExitHook();
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
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
    const onAbortAfter = (): void => void stop();
    signal?.addEventListener('abort', onAbortAfter, { once: true });
    return {
      blobEndpoint,
      accountName: AZURITE_ACCOUNT_NAME,
      accountKey: AZURITE_ACCOUNT_KEY,
      connectionString:
        `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
        `AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
      dataDir,
      pid: child.pid!,
      stop: async () => {
        signal?.removeEventListener('abort', onAbortAfter);
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitUntilAnswering(endpoint: string, signal?: AbortSignal): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
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
