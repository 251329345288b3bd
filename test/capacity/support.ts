import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, silentLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';
import { run } from '../support/process';

/** A real service on the local engine with the configuration overrides a capacity test needs. */
export interface CapacityTestService {
  readonly address: string;
  readonly client: BurstClient;
  readonly dataDir: string;
  readonly service: RunningService;
  /** Runs `spillway ARGS --address ADDRESS` as a child process. */
  cli(...args: string[]): ReturnType<typeof run>;
  close(): Promise<void>;
}

const bin = path.resolve(__dirname, '../../sdk/bin/spillway.js');

/**
 * Starts a real service in this process: loopback port 0, these overrides, a new data
 * directory (removed on close) unless one is given (kept, for a restart).
 */
export async function startCapacityService(
  overrides: Record<string, unknown> = {},
  options: { readonly dataDir?: string } = {},
): Promise<CapacityTestService> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-capacity-'));
  const config = loadConfig({
    env: {},
    // Capacity ownership holds whatever the planner; these tests plan with the greedy
    // baseline, whose targets follow the queue at once. (The burst policy keeps idle nodes a
    // billing interval and stays within the budget itself, so it seldom needs clamping.)
    overrides: {
      listen: '127.0.0.1:0',
      dataDir,
      'compute.local.nodes': 1,
      'burst.planner': 'greedy',
      ...overrides,
    },
  });
  const service = await startService(config, embeddedProviders(config), silentLogger);
  const client = new BurstClient(service.address);
  return {
    address: service.address,
    client,
    dataDir,
    service,
    cli: (...args) => run(process.execPath, [bin, ...args, '--address', service.address]),
    async close() {
      client.close();
      await service.close();
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `read` until `done` holds or `timeoutMs` passes; returns the last value read. */
export async function until<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await read();
  }
  return value;
}
