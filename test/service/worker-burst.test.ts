import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { silentLogger, wire } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, type RunningService, startService } from '@spillway/sdk/service';
import { ArmEmulator, startArmEmulator } from '@spillway/sdk/emulate';

// GIVEN a Spillway service configured for worker burst against the ARM emulator
// WHEN a pipeline tool creates a worker-burst capacity group and resizes it over gRPC
// THEN scale-set instances really start the worker command, and deleting the group stops them.

const { CapacityServiceClient, CapacityGroupSpec } = wire.capacity;
const { BurstMode, NodePriority } = wire.common;

type Unary<Req, Res> = (req: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => grpc.ClientUnaryCall;
const call = <Req, Res>(fn: Unary<Req, Res>, client: grpc.Client, req: Req): Promise<Res> =>
  new Promise<Res>((resolve, reject) => fn.call(client, req, (e, r) => (e ? reject(e) : resolve(r))));

describe('worker burst through the service', () => {
  let dir: string;
  let emulator: ArmEmulator;
  let service: RunningService;
  let client: InstanceType<typeof CapacityServiceClient>;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-wb-'));
    emulator = await startArmEmulator({
      lroDelayMs: 20,
      killGraceMs: 500,
      workDir: path.join(dir, 'arm'),
    });
    fs.writeFileSync(path.join(dir, 'arm-token'), 'emulator-token-0123456789');
    fs.writeFileSync(path.join(dir, 'arm-ca.pem'), emulator.caPem);
    const config = loadConfig({
      env: {},
      overrides: {
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, 'data'),
        'compute.local.nodes': 1,
        'workerBurst.subscriptionId': '00000000-0000-4000-8000-000000000001',
        'workerBurst.resourceGroup': 'render-burst',
        'workerBurst.endpoint': emulator.url,
        'workerBurst.caFile': path.join(dir, 'arm-ca.pem'),
        'workerBurst.tokenFile': path.join(dir, 'arm-token'),
      },
    });
    service = await startService(config, embeddedProviders(config), silentLogger);
    client = new CapacityServiceClient(service.address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await service?.close();
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const joined = (): string[] => {
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (e.name === 'joined') out.push(fs.readFileSync(path.join(d, e.name), 'utf8').trim());
      }
    };
    walk(emulator.workDir);
    return out;
  };

  it('starts real workers for a worker-burst group and stops them when it is deleted', async () => {
    const spec = CapacityGroupSpec.fromPartial({
      name: 'burst-workers',
      mode: BurstMode.BURST_MODE_WORKER_BURST,
      vmSize: 'Standard_D16as_v5',
      image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
      maxSpotNodes: 3,
      cost: {
        currency: 'USD',
        spotPerNodeHour: 0.14,
        dedicatedPerNodeHour: 0.68,
        billingGranularitySeconds: 60,
      },
      scaleSet: {
        resourceGroup: 'render-burst',
        location: 'westeurope',
        maxPrice: -1,
        workerStartup: {
          renderManager: wire.capacity.RenderManager.RENDER_MANAGER_DEADLINE,
          farmAddress: 'rcs.studio.internal:4433',
          groups: ['cloud'],
          pools: ['burst'],
          secretReference: 'https://studio-vault.vault.azure.net/secrets/rcs-cert',
          command: 'echo "$SPILLWAY_FARM_ADDRESS" > "$HOME/joined"; while true; do sleep 0.2; done',
        },
      },
    });
    const ensured = await call<
      wire.capacity.EnsureCapacityGroupRequest,
      wire.capacity.EnsureCapacityGroupResponse
    >(client.ensureCapacityGroup, client, { spec });
    expect(ensured.created).toBe(true);

    const resized = await call<
      wire.capacity.ResizeCapacityGroupRequest,
      wire.capacity.ResizeCapacityGroupResponse
    >(client.resizeCapacityGroup, client, {
      name: 'burst-workers',
      targetDedicatedNodes: 0,
      targetSpotNodes: 2,
      deallocation: 0,
      resizeTimeout: undefined,
    });
    expect(resized.group?.status?.targetSpotNodes).toBe(2);

    const deadline = Date.now() + 30_000;
    while (joined().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(joined()).toEqual(['rcs.studio.internal:4433', 'rcs.studio.internal:4433']);

    const nodes = await call<wire.capacity.ListNodesRequest, wire.capacity.ListNodesResponse>(
      client.listNodes,
      client,
      {
        capacityGroup: 'burst-workers',
        pageSize: 10,
        pageToken: '',
      },
    );
    expect(nodes.nodes).toHaveLength(2);
    expect(nodes.nodes.every((n) => n.priority === NodePriority.NODE_PRIORITY_SPOT)).toBe(true);
    const group = await call<wire.capacity.GetCapacityGroupRequest, wire.capacity.GetCapacityGroupResponse>(
      client.getCapacityGroup,
      client,
      { name: 'burst-workers' },
    );
    expect(group.group?.status?.costPerHour).toBeCloseTo(0.28);

    // Over capacity: refused with the field named, before anything changes.
    await expect(
      call(client.resizeCapacityGroup, client, {
        name: 'burst-workers',
        targetDedicatedNodes: 0,
        targetSpotNodes: 9,
        deallocation: 0,
        resizeTimeout: undefined,
      }),
    ).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining('target_spot_nodes'),
    });

    await call(client.deleteCapacityGroup, client, { name: 'burst-workers' });
    await expect(call(client.getCapacityGroup, client, { name: 'burst-workers' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    // Deleting what is gone succeeds.
    await call(client.deleteCapacityGroup, client, { name: 'burst-workers' });
  });
});
