import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BurstClient, type Logger, silentLogger } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, startService } from '@spillway/sdk/service';

/** Options of a test service. */
export interface TestServiceOptions {
  /** Local engine nodes. @default 2 */
  readonly nodes?: number;
  /** Task slots per node. @default 1 */
  readonly slotsPerNode?: number;
  /** State directory. @default a new temporary directory, removed on close */
  readonly dataDir?: string;
  /** Bearer token to require. @default none */
  readonly token?: string;
  /** Local engine boot time of a node. @default 0 */
  readonly bootDelayMs?: number;
  /**
   * The burst planner (`burst.planner`). Tests of a bridge's or the service's mechanics
   * (offload, outputs, SIGKILL, limits, logs) need a small job to overflow a small farm,
   * which the burst policy rightly refuses when the farm meets the job's deadline: they plan
   * with the greedy baseline ("offload what no idle worker can take"). Tests of the policy's
   * decisions (`test/policy`) pass `'policy'`, the product's default.
   * @default 'greedy'
   */
  readonly planner?: 'policy' | 'greedy';
  readonly logger?: Logger;
  /** More configuration, by dotted key (e.g. `'storage.nodeCache.maxBytes': 1000000`). @default none */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** A real Spillway service for a test. */
export interface TestService {
  readonly address: string;
  readonly client: BurstClient;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** Starts a real service in this process: local engine, real gRPC server on an ephemeral loopback port. */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-svc-'));
  let tokenFile: string | undefined;
  if (options.token) {
    tokenFile = path.join(dataDir, 'token');
    fs.writeFileSync(tokenFile, options.token, { mode: 0o600 });
  }
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      dataDir,
      'compute.local.nodes': options.nodes ?? 2,
      'compute.local.slotsPerNode': options.slotsPerNode ?? 1,
      ...(options.bootDelayMs ? { 'compute.local.bootDelayMs': options.bootDelayMs } : {}),
      ...(tokenFile ? { tokenFile } : {}),
      'burst.planner': options.planner ?? 'greedy',
      ...options.config,
    },
  });
  const service = await startService(config, embeddedProviders(config), options.logger ?? silentLogger);
  const client = new BurstClient(service.address, options.token ? { token: options.token } : {});
  return {
    address: service.address,
    client,
    dataDir,
    async close() {
      client.close();
      await service.close();
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const repoRoot = path.resolve(__dirname, '../..');

/** A service running as a real child process (`spillway serve`), for kill-and-restart tests. */
export interface ServiceProcess {
  readonly address: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for the process to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `spillway serve` (built: `npm test` runs `tsc -b` first) and waits until it listens. */
export async function spawnService(options: {
  dataDir: string;
  listen?: string;
  nodes?: number;
  slotsPerNode?: number;
  extraArgs?: string[];
}): Promise<ServiceProcess> {
  const addressFile = path.join(
    options.dataDir,
    `address-${Date.now()}-${Math.random().toString(36).slice(2)}`,
  );
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'sdk/bin/spillway.js'),
      'serve',
      '--listen',
      options.listen ?? '127.0.0.1:0',
      '--data-dir',
      options.dataDir,
      '--nodes',
      String(options.nodes ?? 2),
      '--slots',
      String(options.slotsPerNode ?? 1),
      '--address-file',
      addressFile,
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPILLWAY_CONFIG: '' } },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(addressFile) || fs.readFileSync(addressFile, 'utf8') === '') {
    if (child.exitCode !== null) throw new Error(`spillway serve exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`spillway serve did not listen within 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    address: fs.readFileSync(addressFile, 'utf8'),
    child,
    output: () => out,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
