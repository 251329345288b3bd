import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AccessToken } from '@azure/core-auth';
import { silentLogger, type CapacityGroupInfo } from '@spillway/sdk';
import { ScaleSetBackend } from '@spillway/sdk/compute/scaleset';
import { startArmEmulator, type ArmEmulator } from '@spillway/sdk/emulate';
import { startCapacityService, until, type CapacityTestService } from './support';

// Worker-burst groups have owners too (#20). GIVEN a service configured for worker burst
// against the ARM emulator (real @azure/arm-compute over HTTPS), and a worker-burst group
// created with `spillway pools create --mode worker-burst` serving the farm group "cloud"
// WHEN bridges report saturated farms THEN a report that does not involve "cloud" never
// shrinks the group, and one that does never removes a busy (protected) worker.

const SUBSCRIPTION = '00000000-0000-4000-8000-000000000001';
const RESOURCE_GROUP = 'render-burst';
const WORKER = 'echo "$SPILLWAY_FARM_ADDRESS" > "$HOME/joined"; while true; do sleep 0.2; done';

/** A saturated farm: every worker busy, frames queued, in the given farm group. */
const saturated = (farmGroup: string, workers: { idle: number; busy: number }) => ({
  source: 'deadline:main',
  observedAt: new Date(),
  jobs: [
    {
      sourceJobId: `shot-${farmGroup || 'any'}`,
      priority: 50,
      group: farmGroup,
      queuedFrames: 40,
      renderingFrames: 8,
      offloadedFrames: 0,
      burstable: false,
    },
  ],
  workers: [{ group: farmGroup, ...workers }],
});

describe('worker-burst capacity owners', () => {
  let dir: string;
  let emulator: ArmEmulator;
  let svc: CapacityTestService;
  /** Someone else on the same subscription: a studio admin's tool, or a bridge protecting busy workers. */
  let outside: ScaleSetBackend;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-wb-owners-'));
    emulator = await startArmEmulator({
      lroDelayMs: 20,
      killGraceMs: 500,
      workDir: path.join(dir, 'arm'),
    });
    fs.writeFileSync(path.join(dir, 'arm-token'), 'emulator-token-0123456789');
    fs.writeFileSync(path.join(dir, 'arm-ca.pem'), emulator.caPem);
    svc = await startCapacityService({
      'workerBurst.subscriptionId': SUBSCRIPTION,
      'workerBurst.resourceGroup': RESOURCE_GROUP,
      'workerBurst.endpoint': emulator.url,
      'workerBurst.caFile': path.join(dir, 'arm-ca.pem'),
      'workerBurst.tokenFile': path.join(dir, 'arm-token'),
    });
    outside = new ScaleSetBackend({
      credential: {
        getToken: (): Promise<AccessToken> =>
          Promise.resolve({ token: 'emulator-token-0123456789', expiresOnTimestamp: Date.now() + 3_600_000 }),
      },
      subscriptionId: SUBSCRIPTION,
      endpoint: emulator.url,
      trustedCaPem: emulator.caPem,
      resourceGroup: RESOURCE_GROUP,
      pollIntervalMs: 20,
      watchIntervalMs: 0,
      logger: silentLogger,
    });
  }, 60_000);

  afterAll(async () => {
    await outside?.close();
    await svc?.close();
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const group = (): Promise<CapacityGroupInfo> => svc.client.capacity.get('cloud-workers');

  it('`pools create --mode worker-burst` describes a real scale set, naming each missing field', async () => {
    const base = [
      'pools',
      'create',
      'cloud-workers',
      '--mode',
      'worker-burst',
      '--backend',
      'scale-set',
      '--vm-size',
      'Standard_D4as_v5',
      '--image',
      'Canonical:ubuntu-24_04-lts:server',
      '--max-spot',
      '3',
      '--spot-price',
      '0.1',
      '--dedicated-price',
      '0.5',
      '--render-manager',
      'deadline',
      '--farm-address',
      'rcs.studio.internal:4433',
      '--farm-group',
      'cloud',
      '--startup-command',
      WORKER,
    ];
    // GIVEN no location in the command or the configuration THEN the refusal names the field and the flag
    const noLocation = await svc.cli(...base);
    expect(noLocation.code).toBe(1);
    expect(noLocation.stderr).toContain(
      'spec.scale_set.location: must name an Azure region such as "westeurope"',
    );
    expect(noLocation.stderr).toContain('[set with --location]');
    const noImage = await svc.cli(
      ...base.filter((a, i) => a !== '--image' && base[i - 1] !== '--image'),
      '--location',
      'westeurope',
    );
    expect(noImage.stderr).toContain('spec.image: is required by a scale set');
    expect(noImage.stderr).toContain('[set with --image (or --image-id)]');

    // WHEN it names its location THEN the resource group comes from the configuration
    const created = await svc.cli(...base, '--location', 'westeurope');
    expect(created.stderr).toBe('');
    expect(created.stdout.trim()).toBe('created cloud-workers (worker-burst, scale-set, Standard_D4as_v5)');
    const scaleSet = await outside.client.virtualMachineScaleSets.get(RESOURCE_GROUP, 'cloud-workers');
    expect(scaleSet.location).toBe('westeurope');
    expect(scaleSet.virtualMachineProfile?.storageProfile?.imageReference).toMatchObject({
      publisher: 'Canonical',
      offer: 'ubuntu-24_04-lts',
      sku: 'server',
    });
  }, 60_000);

  it('never shrinks a worker-burst group for a report that does not involve the farm groups it serves', async () => {
    // GIVEN 2 instances, started outside Spillway's plans (an admin scaled the scale set)
    await outside.resizeGroup('cloud-workers', { dedicated: 0, spot: 2 });
    await until(group, (g) => g.current.spot === 2 && g.target.spot === 2);

    // WHEN a bridge reports a saturated farm of another farm group
    const plan = await svc.client.reportFarmState(saturated('lighting', { idle: 0, busy: 12 }));

    // THEN the plan keeps the 2 instances and says why; nothing is resized
    expect(plan.targets.find((t) => t.capacityGroup === 'cloud-workers')).toMatchObject({
      capacityGroup: 'cloud-workers',
      dedicatedNodes: 0,
      spotNodes: 2,
    });
    expect(plan.reasons).toContain(
      'group cloud-workers: kept at 2 spot: worker burst for farm groups this report does not involve',
    );
    await new Promise((r) => setTimeout(r, 500));
    expect((await group()).current).toEqual({ dedicated: 0, spot: 2 });
  }, 60_000);

  it('never removes a busy worker, even for a report of the farm groups it serves', async () => {
    // GIVEN one of the 2 workers is busy (protected from scale-in, as a bridge does for a rendering worker)
    const nodes = await svc.client.capacity.nodes('cloud-workers');
    expect(nodes).toHaveLength(2);
    const busy = nodes[0]!.nodeId;
    await outside.setScaleInProtection('cloud-workers', [busy], true);

    // WHEN a report of farm group "cloud" leaves the cloud nothing to do
    const plan = await svc.client.reportFarmState(saturated('cloud', { idle: 1, busy: 1 }));

    // THEN the plan goes down to the busy worker, not below, and the busy one is the one kept
    expect(plan.targets.find((t) => t.capacityGroup === 'cloud-workers')).toMatchObject({ spotNodes: 1 });
    expect(plan.reasons).toContain(
      'group cloud-workers: kept at 1 spot: 1 node(s) are busy and are never removed by a plan',
    );
    const after = await until(
      () => svc.client.capacity.nodes('cloud-workers'),
      (n) => n.length === 1,
      30_000,
    );
    expect(after.map((n) => n.nodeId)).toEqual([busy]);
    expect((await until(group, (g) => g.targetOwner === 'plan')).targetOwner).toBe('plan');
  }, 60_000);

  it('refuses frames for a worker-burst group: its instances join the farm', async () => {
    await expect(
      svc.client.submitFrames(
        { source: 'test:wb', sourceJobId: 'j', commandTemplate: 'true', capacityGroup: 'cloud-workers' },
        [{ sourceTaskId: '1', frameStart: 1, frameEnd: 1 }],
      ),
    ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});
