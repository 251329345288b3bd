/**
 * What the worker-burst end-to-end tests share: a real Spillway service whose worker-burst
 * backend is the real `ScaleSetBackend` over HTTPS to the ARM emulator, an emulator whose
 * instances have a testing farm's worker software on their image, and helpers to read the
 * scale set and the service.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEADLINE_TESTING_BIN } from '@spillway/bridge-deadline/testing';
import { OPENCUE_TESTING_BIN } from '@spillway/bridge-opencue/testing';
import { BurstClient, silentLogger, type CapacityGroupInput, type Logger } from '@spillway/sdk';
import { ScaleSetBackend } from '@spillway/sdk/compute/scaleset';
import { loadConfig } from '@spillway/sdk/config';
import { startArmEmulator, type ArmEmulator, type ArmEmulatorOptions } from '@spillway/sdk/emulate';
import { embeddedProviders, startService, type RunningService } from '@spillway/sdk/service';
import { fixedTokenCredential, RESOURCE_GROUP, SUBSCRIPTION } from './support';

/** A service with worker burst over the ARM emulator. */
export interface WorkerBurstRig {
  readonly dir: string;
  readonly emulator: ArmEmulator;
  readonly service: RunningService;
  readonly client: BurstClient;
  /** The service's address, `127.0.0.1:port`. */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * An emulator whose instances start within a second and run the testing Deadline client
 * (`deadlinecommand`, `deadlineworker`) from the default Deadline start-up template.
 */
export const DEADLINE_WORKER_IMAGE: Omit<ArmEmulatorOptions, 'workDir'> = {
  lroDelayMs: 20,
  bootDelayMs: 500,
  killGraceMs: 1000,
  imagePath: [DEADLINE_TESTING_BIN],
  instanceEnvironment: { DEADLINE_BIN: DEADLINE_TESTING_BIN },
};

/**
 * An emulator whose instances start within a second and run the testing OpenCue RQD from the
 * default OpenCue start-up template; each instance writes its rqd.conf in its own folder (the
 * image has no /etc/opencue) and reports every 300 ms.
 */
export const OPENCUE_WORKER_IMAGE: Omit<ArmEmulatorOptions, 'workDir'> = {
  lroDelayMs: 20,
  bootDelayMs: 500,
  killGraceMs: 3000,
  imagePath: [OPENCUE_TESTING_BIN],
  instanceEnvironment: { RQD_CONFIG_FILE: 'rqd.conf', SPILLWAY_RQD_REPORT_MS: '300' },
};

/**
 * The service's configuration for the tests where the burst policy sizes the group: the
 * policy plans, with figures that fit the emulator (its instances join in about a second,
 * not Azure's minutes).
 */
export const POLICY_PLANNING: Readonly<Record<string, unknown>> = {
  'burst.planner': 'policy',
  'burst.groupDefaults.nodeBootSeconds': 3,
  'burst.groupDefaults.transferSecondsPerFrame': 1,
  'burst.groupDefaults.billingGranularitySeconds': 5,
};

/** Options of `startWorkerBurstRig`. */
export interface WorkerBurstRigOptions {
  /** The emulator's image and timing. */
  readonly emulator: Omit<ArmEmulatorOptions, 'workDir'>;
  /** Configuration overrides of the service (budget...). @default none */
  readonly config?: Readonly<Record<string, unknown>>;
  readonly logger?: Logger;
}

/**
 * Starts the ARM emulator and a service in this process (loopback, port 0) whose worker-burst
 * backend talks to it; the frame-offload backend is the embedded local engine.
 */
export async function startWorkerBurstRig(options: WorkerBurstRigOptions): Promise<WorkerBurstRig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-wb-e2e-'));
  const emulator = await startArmEmulator({ ...options.emulator, workDir: path.join(dir, 'arm') });
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      dataDir: path.join(dir, 'service'),
      'compute.local.nodes': 1,
      'workerBurst.subscriptionId': SUBSCRIPTION,
      'workerBurst.resourceGroup': RESOURCE_GROUP,
      'workerBurst.location': 'westeurope',
      // The mechanics tests size groups by hand and need a small job to overflow a small farm:
      // the greedy baseline, as the test service uses; a test asks for the policy in `config`.
      'burst.planner': 'greedy',
      ...options.config,
    },
  });
  const logger = options.logger ?? silentLogger;
  const providers = embeddedProviders(config);
  const service = await startService(
    config,
    {
      ...providers,
      // The embedded frame-offload backend, and the scale-set backend against the emulator.
      backends: async ({ workerBurst: _real, ...offloadOnly }, l) => [
        ...(await providers.backends(offloadOnly, l)),
        {
          name: 'scaleset',
          mode: 'worker-burst',
          // The real backend over HTTPS; LRO polls every 50 ms instead of 2 s to keep the test short.
          backend: new ScaleSetBackend({
            credential: fixedTokenCredential('emulator-token-0123456789'),
            subscriptionId: SUBSCRIPTION,
            resourceGroup: RESOURCE_GROUP,
            endpoint: emulator.url,
            trustedCaPem: emulator.caPem,
            pollIntervalMs: 50,
            watchIntervalMs: 1000,
            logger,
          }),
        },
      ],
    },
    logger,
  );
  const client = new BurstClient(service.address);
  return {
    dir,
    emulator,
    service,
    client,
    address: service.address,
    async close() {
      client.close();
      await service.close();
      await emulator.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Spot worker-burst group joining a farm with the render manager's own start-up. */
export function workerGroup(
  name: string,
  startup: NonNullable<CapacityGroupInput['workerStartup']>,
  over: Partial<CapacityGroupInput> = {},
): CapacityGroupInput {
  return {
    name,
    mode: 'worker-burst',
    backend: 'scale-set',
    vmSize: 'Standard_D4as_v5',
    maxSpotNodes: 3,
    maxDedicatedNodes: 0,
    cost: { dedicated: 0.4, spot: 0.1 },
    image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
    workerStartup: startup,
    ...over,
  };
}

/** The live instances of a scale set in the emulator (not being deleted). */
export function liveInstances(
  emulator: ArmEmulator,
  set: string,
): { id: string; host: string; protected: boolean }[] {
  const s = emulator.scaleSets().find((x) => x.name === set);
  return (s?.instances ?? [])
    .filter((i) => i.provisioningState !== 'Deleting' && i.powerState !== 'deallocated')
    .map((i) => ({ id: i.instanceId, host: i.computerName, protected: i.protectFromScaleIn }));
}

/** Polls `check` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until the plan's Spot target of `group` satisfies `want`; on time-out the error
 * carries the service's burst status and `logs` (the bridge's), to say why.
 */
export async function eventuallyPlanned(
  rig: WorkerBurstRig,
  group: string,
  what: string,
  want: (spot: number) => boolean,
  timeoutMs: number,
  logs: readonly string[],
): Promise<void> {
  await eventually(
    what,
    async () => want((await rig.client.capacity.get(group)).target.spot),
    timeoutMs,
  ).catch(async (err: Error) => {
    const status = await rig.client.burstStatus().catch((e: Error) => e.message);
    throw new Error(`${err.message}\nburst status: ${JSON.stringify(status)}\n${logs.join('\n')}`);
  });
}
