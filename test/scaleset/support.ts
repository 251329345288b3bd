import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import * as scaleset from '@spillway/sdk/compute/scaleset';
import type { Logger } from '@spillway/sdk';
import type { CapacityEvent } from '@spillway/sdk/compute';

/** A real `TokenCredential` that hands out one fixed token. */
export function fixedTokenCredential(token: string): TokenCredential & { calls: number } {
  const credential = {
    calls: 0,
    async getToken(): Promise<AccessToken> {
      credential.calls += 1;
      return { token, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
  return credential;
}

export const SUBSCRIPTION = '00000000-0000-4000-8000-000000000001';
export const RESOURCE_GROUP = 'render-burst';

/** A test worker: writes its pid and farm address into its instance directory, then loops like a worker. */
export const TEST_WORKER = [
  'echo $$ > "$HOME/worker.pid"',
  'echo "$SPILLWAY_FARM_ADDRESS $SPILLWAY_INSTANCE_NAME" > "$HOME/joined"',
  'sleep 300 &',
  'while true; do sleep 0.2; done',
].join('\n');

/** A Spot worker-burst spec running the test worker. */
export function spotSpec(
  name: string,
  overrides: Partial<scaleset.ScaleSetGroupSpec> = {},
): scaleset.ScaleSetGroupSpec {
  return {
    name,
    vmSize: 'Standard_D16as_v5',
    maxDedicatedNodes: 0,
    maxSpotNodes: 5,
    image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
    resourceGroup: RESOURCE_GROUP,
    location: 'westeurope',
    priority: 'Spot',
    evictionPolicy: 'Delete',
    maxPrice: -1,
    workerStartup: {
      renderManager: 'deadline',
      farmAddress: 'rcs.studio.internal:4433',
      groups: ['cloud'],
      pools: ['burst'],
      secretReference: 'https://studio-vault.vault.azure.net/secrets/deadline-rcs-cert',
      command: TEST_WORKER,
    },
    ...overrides,
  };
}

/** Live (not zombie) processes as [pid, process group] from /proc. */
function liveProcesses(): [number, number][] {
  const out: [number, number][] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && fields[0] !== 'X') out.push([Number(entry), Number(fields[2])]);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** True while a live (not zombie) process with this pid exists. */
export function alive(pid: number): boolean {
  return liveProcesses().some(([p]) => p === pid);
}

/** True while any live process of this process group exists (the worker's whole tree). */
export function groupAlive(pgid: number): boolean {
  return liveProcesses().some(([, g]) => g === pgid);
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pid a test worker wrote into its instance directory, once it did. */
export function workerPid(dir: string): number | undefined {
  try {
    const text = fs.readFileSync(path.join(dir, 'worker.pid'), 'utf8').trim();
    return text ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A logger that keeps its lines. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>) =>
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Collects capacity events. */
export function eventsOf(backend: scaleset.ScaleSetBackend): CapacityEvent[] {
  const events: CapacityEvent[] = [];
  backend.onCapacityEvent((e) => events.push(e));
  return events;
}
